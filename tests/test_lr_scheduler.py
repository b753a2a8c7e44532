"""fastnn.optim.lr_scheduler against the closed forms of the schedules, over two param
groups; ReduceLROnPlateau's patience, threshold, cooldown and min_lr; state_dict resumes."""

import math

import numpy as np
import pytest

import fastnn
from fastnn import optim
from fastnn.optim import lr_scheduler

EPOCHS = 40
BASE = (0.1, 0.03)


def make_opt(cls=optim.SGD, lrs=BASE):
    groups = [{"params": [fastnn.Tensor(np.zeros(2, np.float32), requires_grad=True)], "lr": lr} for lr in lrs]
    return cls(groups, lr=0.5)


def run(sched, opt, epochs=EPOCHS):
    """The lrs of epochs 0..epochs-1 (epoch 0: right after construction), each group's,
    checking get_last_lr agrees with the groups."""
    out = []
    for _ in range(epochs):
        lrs = [g["lr"] for g in opt.param_groups]
        assert sched.get_last_lr() == lrs
        out.append(lrs)
        opt.step()
        sched.step()
    return np.array(out)


def closed(fn, base=BASE, epochs=EPOCHS):
    return np.array([[fn(b, e) for b in base] for e in range(epochs)])


def test_step_lr():
    opt = make_opt()
    got = run(lr_scheduler.StepLR(opt, step_size=3, gamma=0.5), opt)
    np.testing.assert_allclose(got, closed(lambda b, e: b * 0.5 ** (e // 3)), rtol=1e-14)
    assert [g["initial_lr"] for g in opt.param_groups] == list(BASE)


def test_multi_step_lr_with_a_repeated_milestone():
    opt = make_opt()
    milestones = [4, 9, 9, 20]
    got = run(lr_scheduler.MultiStepLR(opt, milestones, gamma=0.3), opt)
    np.testing.assert_allclose(got, closed(lambda b, e: b * 0.3 ** sum(m <= e for m in milestones)), rtol=1e-14)


def test_exponential_lr():
    opt = make_opt()
    got = run(lr_scheduler.ExponentialLR(opt, gamma=0.9), opt)
    np.testing.assert_allclose(got, closed(lambda b, e: b * 0.9 ** e), rtol=1e-13)


@pytest.mark.parametrize("eta_min", [0.0, 0.01])
def test_cosine_annealing_recursion_tracks_the_closed_form(eta_min):
    """Three half-periods, through the trough and back up (no restart)."""
    opt = make_opt()
    t_max = 7
    got = run(lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min), opt, epochs=3 * t_max + 1)
    want = closed(lambda b, e: eta_min + (b - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2, epochs=3 * t_max + 1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert np.argmin(got[:, 0]) == t_max


def test_lambda_lr_per_group():
    opt = make_opt()
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 1 / (e + 1), lambda e: 0.5 ** e])
    got = run(sched, opt)
    want = np.array([[BASE[0] / (e + 1), BASE[1] * 0.5 ** e] for e in range(EPOCHS)])
    np.testing.assert_allclose(got, want, rtol=1e-15)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lr_scheduler.LambdaLR(make_opt(), [lambda e: 1.0])


def test_last_epoch_counts_steps():
    opt = make_opt()
    sched = lr_scheduler.StepLR(opt, 2)
    assert sched.last_epoch == 0 and sched.base_lrs == list(BASE)
    for _ in range(5):
        sched.step()
    assert sched.last_epoch == 5


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.StepLR(o, 4, gamma=0.5),
    lambda o: lr_scheduler.MultiStepLR(o, [3, 8], gamma=0.2),
    lambda o: lr_scheduler.ExponentialLR(o, 0.8),
    lambda o: lr_scheduler.CosineAnnealingLR(o, 6, eta_min=0.001),
    lambda o: lr_scheduler.LambdaLR(o, lambda e: 0.9 ** e),
], ids=["step", "multistep", "exponential", "cosine", "lambda"])
def test_state_dict_resumes_the_schedule(make):
    """Stop after 7 epochs; a new optimizer and scheduler loading both state dicts continue
    exactly as the uninterrupted run."""
    opt = make_opt()
    whole = run(make(opt), opt, epochs=20)
    opt = make_opt()
    sched = make(opt)
    run(sched, opt, epochs=7)
    opt_sd, sched_sd = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in sched_sd
    opt2 = make_opt()
    sched2 = make(opt2)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sched_sd)
    rest = run(sched2, opt2, epochs=13)
    np.testing.assert_array_equal(rest, whole[7:])


def test_resume_with_last_epoch_keeps_the_optimizers_lr():
    """Resuming at last_epoch=k takes the lrs the optimizer has (a loaded checkpoint's) as
    epoch k + 1's and continues the schedule from there, as torch does."""
    t_max = 10
    cos = lambda b, e: b * (1 + math.cos(math.pi * e / t_max)) / 2  # noqa: E731
    opt = make_opt()
    lr_scheduler.CosineAnnealingLR(opt, t_max)
    for g, b in zip(opt.param_groups, BASE):
        g["lr"] = cos(b, 3)
    sched = lr_scheduler.CosineAnnealingLR(opt, t_max, last_epoch=2)
    assert sched.last_epoch == 3
    got = run(sched, opt, epochs=12)
    np.testing.assert_allclose(got, closed(lambda b, e: cos(b, e + 3), epochs=12), rtol=1e-12, atol=1e-15)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(make_opt(), 3, last_epoch=4)


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.StepLR([], 3)
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.ReduceLROnPlateau([])


# ---------------------------------------------------------------------------------------
# ReduceLROnPlateau
# ---------------------------------------------------------------------------------------

def plateau_lrs(sched, opt, metrics):
    out = []
    for m in metrics:
        sched.step(m)
        out.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    return out


def test_plateau_waits_patience_epochs():
    opt = make_opt(lrs=(1.0,))
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    # improves twice, then stalls: the third bad epoch (more than patience) halves the lr
    lrs = plateau_lrs(sched, opt, [10, 9, 9, 9, 9, 9, 9, 9])
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert sched.best == 9 and sched.last_epoch == 8


def test_plateau_cooldown_ignores_bad_epochs():
    opt = make_opt(lrs=(1.0,))
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0, cooldown=2)
    lrs = plateau_lrs(sched, opt, [5, 6, 6, 6, 6, 6, 6])
    # decay at the first bad epoch, then 2 cooldown epochs, then decay again
    assert lrs == [1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]


def test_plateau_threshold_modes_and_max_mode():
    opt = make_opt(lrs=(1.0,))
    rel = lr_scheduler.ReduceLROnPlateau(opt, patience=0, threshold=0.1)
    # 9.5 is not below 10 * (1 - 0.1): no improvement
    assert plateau_lrs(rel, opt, [10, 9.5]) == [1.0, 0.1]
    opt = make_opt(lrs=(1.0,))
    ab = lr_scheduler.ReduceLROnPlateau(opt, patience=0, threshold=0.4, threshold_mode="abs")
    assert plateau_lrs(ab, opt, [10, 9.7, 9.5]) == [1.0, 0.1, 0.1]  # 9.5 < 10 - 0.4 improves
    opt = make_opt(lrs=(1.0,))
    mx = lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)
    assert plateau_lrs(mx, opt, [1, 2, 1.5]) == [1.0, 1.0, 0.5]
    assert mx.best == 2


def test_plateau_min_lr_and_eps():
    opt = make_opt()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5, min_lr=[0.02, 0.0], eps=0.001)
    for m in [1, 2, 3, 4, 5, 6]:  # five decays
        sched.step(m)
    # group 0 stops at min_lr; group 1 stops once a halving would change it by <= eps
    assert opt.param_groups[0]["lr"] == 0.02
    assert opt.param_groups[1]["lr"] == 0.03 / 16


def test_plateau_validation():
    with pytest.raises(ValueError, match=r"Factor should be < 1.0."):
        lr_scheduler.ReduceLROnPlateau(make_opt(), factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown!"):
        lr_scheduler.ReduceLROnPlateau(make_opt(), mode="avg")
    with pytest.raises(ValueError, match="threshold mode x is unknown!"):
        lr_scheduler.ReduceLROnPlateau(make_opt(), threshold_mode="x")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 1"):
        lr_scheduler.ReduceLROnPlateau(make_opt(), min_lr=[0.1])


def test_plateau_state_dict_round_trip():
    opt = make_opt(lrs=(1.0,))
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=1, cooldown=1)
    plateau_lrs(sched, opt, [1, 0, 0])
    sd = sched.state_dict()
    opt2 = make_opt(lrs=(1.0,))
    opt2.load_state_dict(opt.state_dict())
    sched2 = lr_scheduler.ReduceLROnPlateau(opt2)
    sched2.load_state_dict(sd)
    metrics = [0, 0, 0, 2, 0, 0, 0]
    assert plateau_lrs(sched2, opt2, metrics) == plateau_lrs(sched, opt, metrics)
    assert sched2.mode == "max" and sched2.mode_worse == -math.inf
