"""The official PaS schedule, scaled to a network's stock training LR.

From github liyy201912/PaS: ``autoprune.py::adjust_learning_rate`` sets
``lr = args.lr * batch / 256 * 0.1 ** factor`` with ``factor = epoch //
30`` (+1 from epoch 80); ``scripts/search.sh`` runs, on 8 GPUs x 64 (a
batch of 512), one SGD over ``model.parameters()`` (weights and gates
alike: momentum 0.9, weight decay 1e-4 on the gates too):

* search: ``--start-epoch 81 --lr 10`` -> 10 x 2 x 0.001 = **0.02** for
  epochs 81-89 (9 epochs), from the trained network;
* fine-tune: ``--start-epoch 42 --lr 0.128 --freeze`` -> **0.0256**
  (epochs 42-59), 0.00256 (60-79), 0.000256 (80-89): 48 epochs, x0.1
  after 18 and after 38 of them, gates frozen.

RepVGG's stock ImageNet LR is 0.1 at batch 256, i.e. 0.2 at 512: the
search runs at 0.1x and the fine-tune starts at 0.128x the stock LR. These
ratios carry the schedule to any network, batch and data set.
"""
from typing import List

SEARCH_LR_RATIO = 0.1  # 0.02 / 0.2
FINETUNE_LR_RATIO = 0.128  # 0.0256 / 0.2
FINETUNE_STEPS = (18 / 48, 38 / 48)  # fractions of the fine-tune, x0.1 each
GATE_PARAMWISE = dict(lr_mult=1.0, decay_mult=1.0)  # gates in the same SGD


def finetune_milestones(search_epochs: int, finetune_epochs: int
                        ) -> List[int]:
    """Epochs (from the run's start) at which the fine-tune LR drops x0.1."""
    return [search_epochs + round(f * finetune_epochs)
            for f in FINETUNE_STEPS]


def pas_schedule(stock_lr: float, search_epochs: int = 10,
                 finetune_epochs: int = 50, hook_interval: int = 50) -> dict:
    """The official PaS LR schedule for a run of search + fine-tune.

    Args:
        stock_lr: the network's stock training LR at the run's batch (as
            its training config gives it).
        search_epochs, finetune_epochs: lengths of the two phases.
        hook_interval: ``search_hook``'s logging interval (iterations).

    Returns:
        The config pieces, to be merged over the stock config:
        ``optim_wrapper`` (the search LR, 0.1 x ``stock_lr``, and the gates'
        paramwise_cfg: the weights' LR and decay), ``param_scheduler``
        (mmengine epoch schedulers: x1.28 when the search ends, then x0.1
        twice at :func:`finetune_milestones`), ``train_cfg``
        (``max_epochs``) and ``search_hook`` (the ``PaSSearchHook``).
    """
    steps = finetune_milestones(search_epochs, finetune_epochs)
    return dict(
        optim_wrapper=dict(
            optimizer=dict(lr=SEARCH_LR_RATIO * stock_lr),
            paramwise_cfg=dict(custom_keys={'.gate': dict(GATE_PARAMWISE)})),
        param_scheduler=[
            dict(type='MultiStepLR', by_epoch=True, milestones=[search_epochs],
                 gamma=FINETUNE_LR_RATIO / SEARCH_LR_RATIO),
            dict(type='MultiStepLR', by_epoch=True, milestones=steps,
                 gamma=0.1),
        ],
        train_cfg=dict(max_epochs=search_epochs + finetune_epochs),
        search_hook=dict(type='PaSSearchHook', search_epochs=search_epochs,
                         interval=hook_interval))
