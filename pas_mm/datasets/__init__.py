"""Writing and checking ImageNet-style folders (train/val/test/<class>/*)."""
from .image_folder import (SPLITS, check_image_folder, dedupe, generator_args,
                           require_package, stratified_split,
                           write_image_folder, write_resized_splits,
                           write_split_dataset)

__all__ = ['SPLITS', 'check_image_folder', 'dedupe', 'generator_args',
           'require_package', 'stratified_split', 'write_image_folder',
           'write_split_dataset']
