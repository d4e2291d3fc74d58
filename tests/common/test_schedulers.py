import math

import pytest
import torch

from lavis.common import registry


def make(name, **kw):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    args = dict(total_steps=100, init_lr=1.0, min_lr=0.1, warmup_lr=0.0, warmup_steps=10, steps_per_epoch=20)
    args.update(kw)
    return opt, registry.get_lr_scheduler_class(name)(opt, **args)


def lrs(sched, n):
    out = [sched.get_last_lr()]
    for _ in range(n):
        sched.step()
        out.append(sched.get_last_lr())
    return out


def test_cosine_warms_up_linearly_then_decays_every_step_to_min():
    opt, sched = make("linear_warmup_cosine_lr")
    values = lrs(sched, 100)
    assert values[0] == 0.0 and values[5] == pytest.approx(0.5) and values[10] == pytest.approx(1.0)
    decay = values[10:]
    assert all(a > b for a, b in zip(decay, decay[1:]))  # changes at every step, not per epoch
    assert values[55] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert values[100] == pytest.approx(0.1)
    assert opt.param_groups[0]["lr"] == pytest.approx(values[-1])


def test_step_and_constant():
    _, step = make("linear_warmup_step_lr", decay_rate=0.5, min_lr=0.0)
    values = lrs(step, 60)
    assert values[15] == 1.0 and values[25] == 0.5 and values[45] == 0.25
    _, const = make("constant_lr")
    assert lrs(const, 50)[10:] == [1.0] * 41


def test_state_round_trip_resumes_on_the_same_curve():
    _, a = make("linear_warmup_cosine_lr")
    lrs(a, 37)
    _, b = make("linear_warmup_cosine_lr")
    b.load_state_dict(a.state_dict())
    assert lrs(a, 20) == lrs(b, 20)
