from setuptools import find_packages, setup

setup(
    name='pas_mm',
    version='0.1.0',
    description='Pruning-as-Search (PaS) for mmengine, mmpretrain and mmdet',
    packages=find_packages(include=['pas_mm', 'pas_mm.*']),
    python_requires='>=3.10',
    install_requires=['mmengine==0.10.7', 'mmcv==2.1.0', 'mmpretrain==1.2.0',
                      'mmdet==3.3.0', 'torch-pruning==1.6.1'],
    extras_require={
        # CycleGAN (pas_mm.gan); install with `bash tools/install.sh
        # --with-mmagic`, which also holds torch, mmcv and OpenCV at the
        # stack's versions
        'mmagic': [
            'mmagic==1.2.0', 'diffusers==0.24.0', 'transformers==4.36.2',
            'huggingface-hub<0.26', 'tokenizers<0.19',
            'albumentations==1.3.1'],
        # tools/deploy_reparam.py --onnx (tools/install_benchmark.sh)
        'onnx': ['onnx==1.23.2', 'onnxruntime==1.32.0', 'numpy<2']},
)
