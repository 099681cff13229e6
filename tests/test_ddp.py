"""DistributedDataParallel on CPU: two gloo processes (torchrun) train like one process with the same
global batch. Real training of a tiny config, launched exactly as a user would launch it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from empirical.config import TrainConfig
from empirical.model.presets import get_preset
from empirical.train.loop import CHECKPOINT, train

ROOT = Path(__file__).resolve().parent.parent

# Run by each rank: train() joins the process group torchrun set up; each rank reports what it saw.
RANK_SCRIPT = """
import json, sys
import torch
from empirical.config import TrainConfig
from empirical.train.loop import train

torch.set_num_threads(1)
config_path, run_dir, out_dir = sys.argv[1:4]
rows = train(TrainConfig.from_json(open(config_path).read()), run_dir, progress=False)
rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
with open(f"{out_dir}/rank{rank}.json", "w") as f:
    json.dump({"rank": rank, "world": world, "rows": rows}, f)
torch.distributed.destroy_process_group()
"""


def run_torchrun(config: TrainConfig, run_dir: Path, out_dir: Path, nproc: int) -> list[dict]:
    script = out_dir / "rank_script.py"
    script.write_text(RANK_SCRIPT)
    config_path = out_dir / "config.json"
    config_path.write_text(config.to_json())
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
         str(script), str(config_path), str(run_dir), str(out_dir)],
        # Generous: on a loaded machine (a full suite on two cores) start-up and rendezvous alone can
        # take minutes; the run itself is seconds.
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((out_dir / f"rank{r}.json").read_text()) for r in range(nproc)]


def _determined(name: str, param: torch.Tensor) -> torch.Tensor:
    """Mask of the elements whose gradient is not identically zero (see the test below)."""
    mask = torch.ones_like(param, dtype=torch.bool)
    if name.endswith("query_key_value.bias"):
        cfg = get_preset("tiny-50k")
        mask.view(cfg.n_head, 3, cfg.head_dim)[:, 1, cfg.rotary_dims:] = False  # (H, q|k|v, hs)
    return mask


pytestmark = pytest.mark.usefixtures("one_thread")


def test_two_gloo_processes_train_like_one_process_with_the_same_global_batch(tmp_path, tiny):
    # r = 0.9 > 1 - L_max / T, so the stream pads: the ranks' slices hold unequal numbers of counted
    # targets, which a plain average of the slices' mean losses would get wrong.
    config = tiny(0.9, steps=10, warmup_steps=3)
    ranks = run_torchrun(config, tmp_path / "ddp", tmp_path, nproc=2)
    alone = train(config, tmp_path / "one", progress=False)

    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[1]["rows"] == []  # rank 0 alone evaluates and reports
    together = ranks[0]["rows"]
    assert [r["step"] for r in together] == [r["step"] for r in alone] == config.eval_steps()
    assert alone[-1]["pad_tokens"] > 0  # the unequal-slice case is exercised
    for a, b in zip(alone, together):
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-5)  # the global batch's, not rank 0's
        assert b["knowledge_loss"] == pytest.approx(a["knowledge_loss"], abs=1e-5)
        assert b["web_loss"] == pytest.approx(a["web_loss"], abs=1e-5)
        assert b["accuracy"] == a["accuracy"]
        assert b["exposures"] == a["exposures"] and b["tokens"] == a["tokens"]

    one = torch.load(tmp_path / "one" / CHECKPOINT, weights_only=True)
    ddp = torch.load(tmp_path / "ddp" / CHECKPOINT, weights_only=True)
    assert ddp["step"] == one["step"] == config.steps
    assert ddp["optimizer"]["step_count"] == one["optimizer"]["step_count"] == config.steps
    # Both runs are deterministic (fixed data, one thread per process, a two-operand all-reduce), so
    # this test passes or fails the same way every time for a given code version; what it tolerates is
    # the rounding difference between summing one batch and summing two slices then all-reducing.
    # AdamW divides each gradient element by its own running RMS, so an element whose gradient is
    # nearly zero (a token seen once whose contributions cancel) turns that rounding difference into a
    # visible one. Measured (10 steps, lr 5e-3, 181,856 elements): 0.1% to 0.33% differ by more than
    # 1e-5, the largest by 7.6e-4 to 6.5e-3, depending on how the model's kernels chunk their sums.
    # The key biases outside the rotary dimensions have zero gradient in exact arithmetic (softmax
    # ignores a shift shared by all keys), so in both runs they are rounding noise scaled to lr and
    # change no output: left out. The test that tells a right gradient from a wrong one (one slice's
    # instead of the global batch's) is the share of elements that agree to 1e-5: measured, training
    # on half the batch leaves only 27% within 1e-5 (median difference 2.4e-3), against over 99.6%
    # here; the threshold of 99% sits far from both. The bound on the largest difference is a proven
    # one, not a measured one: with 1 - beta1 < sqrt(1 - beta2), an Adam step moves no element by
    # more than lr (Kingma & Ba, arXiv 1412.6980, Sec. 2.1; decoupled weight decay adds lr * 0.1 * |w|),
    # so two runs of `steps` steps differ by at most about 2 lr steps.
    differences = torch.cat([(ddp["model"][name] - p).abs()[_determined(name, p)] for name, p in one["model"].items()])
    assert 1 - config.optim.beta1 < (1 - config.optim.beta2) ** 0.5
    assert differences.max() < 2 * config.optim.lr * config.steps
    assert (differences <= 1e-5).float().mean() > 0.99
    # The tolerance is far below what training changes: the loss moved by much more between the points.
    assert abs(alone[-1]["train_loss"] - alone[0]["train_loss"]) > 1e-2
