import pytest
import torch

from pas_mm import DBCGate


def make_gate(values):
    gate = DBCGate(len(values))
    gate.weight.data = torch.tensor(values)
    return gate


def test_forward_zeroes_exactly_the_pruned_channels():
    gate = make_gate([0.9, 0.2, 0.7, 0.5])  # 0.5 is not > 0.5: pruned
    x = torch.randn(2, 4, 3, 3) + 10
    y = gate(x)
    assert torch.equal(y[:, [1, 3]], torch.zeros(2, 2, 3, 3))
    assert torch.equal(y[:, [0, 2]], x[:, [0, 2]])
    assert gate.hard_mask().tolist() == [True, False, True, False]


def test_straight_through_gradient_reaches_pruned_gates():
    gate = make_gate([0.9, 0.2])
    x = torch.randn(2, 2, 4, 4)
    w = torch.randn(2, 2, 4, 4)
    (gate(x) * w).sum().backward()
    expected = (x * w).sum(dim=(0, 2, 3))  # d(x * b)/db, passed to v
    torch.testing.assert_close(gate.weight.grad, expected)
    assert gate.weight.grad[1] != 0  # the pruned channel can come back


def test_producing_conv_gets_no_gradient_for_pruned_channels():
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    gate = make_gate([0.9, 0.1, 0.8, 0.3])
    gate(conv(torch.randn(2, 3, 5, 5))).pow(2).sum().backward()
    assert torch.equal(conv.weight.grad[[1, 3]],
                       torch.zeros_like(conv.weight.grad[[1, 3]]))
    assert conv.weight.grad[[0, 2]].abs().sum() > 0
    assert torch.equal(conv.bias.grad[[1, 3]], torch.zeros(2))


def test_min_keep_forces_largest_channels_on():
    gate = DBCGate(5, min_keep=2)
    gate.weight.data = torch.tensor([0.1, 0.4, -1.0, 0.3, 0.0])
    assert gate.hard_mask().tolist() == [False, True, False, True, False]
    assert gate.num_kept() == 2


def test_fix_freezes_mask_and_stops_gate_gradient():
    gate = make_gate([0.9, 0.2, 0.7])
    gate.fix()
    gate.weight.data = torch.tensor([0.0, 1.0, 0.0])
    assert gate.hard_mask().tolist() == [True, False, True]
    gate(torch.randn(1, 3, 2, 2)).sum().backward()
    assert torch.equal(gate.weight.grad, torch.zeros(3))
    state = gate.state_dict()
    assert bool(state['fixed']) and state['fixed_mask'].tolist() == [
        True, False, True]


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_channels=4, min_keep=0), 'min_keep=0'),
    (dict(num_channels=4, min_keep=5), 'min_keep=5'),
    (dict(num_channels=4, init=0.4), 'init=0.4 must be above'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DBCGate(**kwargs)
