import json

import pytest
import torch

from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig
from empirical.train.optim import StackedAdamW, learning_rate


def test_stacked_adamw_with_one_model_matches_torch_adamw_and_clipping():
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(1, 5, 4))  # a matrix: decayed
    bias = torch.nn.Parameter(torch.randn(1, 5))  # a bias: not decayed
    twin_w = torch.nn.Parameter(weight.detach().clone())
    twin_b = torch.nn.Parameter(bias.detach().clone())
    cfg = OptimConfig(lr=1e-2, weight_decay=0.1, grad_clip=0.5)
    ours = StackedAdamW([weight, bias], 1, cfg)
    reference = torch.optim.AdamW([{"params": [twin_w], "weight_decay": 0.1}, {"params": [twin_b], "weight_decay": 0.0}],
                                  lr=1e-2, betas=(0.9, 0.95), eps=1e-8)
    for step in range(20):
        x = torch.randn(3, 4)
        for w, b in ((weight, bias), (twin_w, twin_b)):
            ((x @ w[0].T + b[0]) ** 2).sum().backward()
        ours.step(torch.tensor([1e-2]))
        ours.zero_grad()
        torch.nn.utils.clip_grad_norm_([twin_w, twin_b], 0.5)
        reference.step()
        reference.zero_grad()
    assert torch.allclose(weight, twin_w, atol=1e-6, rtol=1e-6)
    assert torch.allclose(bias, twin_b, atol=1e-6, rtol=1e-6)


def test_stacked_adamw_clips_each_model_by_its_own_norm():
    p = torch.nn.Parameter(torch.zeros(2, 3, 3))
    p.grad = torch.stack([torch.full((3, 3), 100.0), torch.full((3, 3), 1e-3)])
    opt = StackedAdamW([p], 2, OptimConfig(grad_clip=1.0))
    norms = opt.step(torch.tensor([0.1, 0.1]))
    assert norms[0] == pytest.approx(300.0) and norms[1] == pytest.approx(3e-3)
    # Model 1's tiny gradient was not scaled down by model 0's huge one: Adam's first step moves
    # both by about lr whatever the gradient's size, which would not hold if model 1 were clipped.
    assert torch.allclose(p[0], torch.full((3, 3), -0.1), atol=1e-4)
    assert torch.allclose(p[1], torch.full((3, 3), -0.1), atol=1e-3)


def test_wsd_schedule_warms_up_holds_and_cools_down_over_the_last_tenth():
    s = ScheduleConfig(kind="wsd", warmup_steps=10, cooldown_fraction=0.1)
    lrs = [learning_rate(i, 200, 1e-3, s) for i in range(200)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(lr == pytest.approx(1e-3) for lr in lrs[10:180])
    assert lrs[180] < 1e-3 and lrs[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lrs[180:], lrs[181:]))


def test_cosine_schedule_ends_at_the_final_ratio():
    s = ScheduleConfig(kind="cosine", warmup_steps=5, final_lr_ratio=0.1)
    assert learning_rate(5, 100, 1e-3, s) == pytest.approx(1e-3)
    assert learning_rate(99, 100, 1e-3, s) == pytest.approx(1e-4, rel=0.01)


def test_config_round_trips_through_json_and_has_a_stable_run_id():
    c = TrainConfig(model="tiny-50k", data=DataConfig(people=50, mixing_ratio=0.25), tokens=200_000)
    again = TrainConfig.from_json(json.dumps(json.loads(c.to_json())))
    assert again == c and again.run_id == c.run_id
    assert c.replace(**{"data.mixing_ratio": 0.5}).run_id != c.run_id


def test_eval_steps_are_log_spaced_and_end_at_the_budget():
    c = TrainConfig(tokens=32 * 256 * 1000, eval=EvalConfig(points=5))
    steps = c.eval_steps()
    assert steps[-1] == 1000 and steps[0] >= 1 and len(steps) == 5
    ratios = [b / a for a, b in zip(steps, steps[1:])]
    assert max(ratios) / min(ratios) < 1.1


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: TrainConfig(model="gpt-5"), 'model "gpt-5": unknown model preset'),
        (lambda: DataConfig(mixing_ratio=1.5), "data.mixing_ratio 1.5: must be a number in \\[0, 1\\]"),
        (lambda: DataConfig(mixing_ratio=-0.1), "data.mixing_ratio -0.1: must be a number in \\[0, 1\\]"),
        (lambda: TrainConfig(tokens=0), "tokens 0: must be an integer >= 1 \\(the budget\\)"),
        (lambda: TrainConfig(tokens=10_000, eval=EvalConfig(first_tokens=50_000)), "beyond the budget"),
        (lambda: DataConfig(subsample_rho=0.0), "data.subsample_rho 0.0: must be a number in \\(0, 1\\]"),
        (lambda: DataConfig(knowledge="poems"), 'data.knowledge "poems": must be one of'),
        (lambda: TrainConfig.from_dict({"modle": "tiny-50k"}), 'config keys \\["modle"\\]: unknown'),
    ],
)
def test_bad_configs_name_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()
