import json
import os
import subprocess
import sys
from pathlib import Path

from tcic_lib.architectures import model_from_checkpoint
from tcic_lib.checkpoint import load_checkpoint


def test_torchrun_two_cpu_processes(tmp_path):
    """2 gloo processes: replicas stay equal, each sees its own images, rank 0's checkpoint loads and resumes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TCIC_DEVICE": "cpu", "TCIC_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(Path(__file__).with_name("ddp_worker.py")), str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result == {"world_size": 2, "cli_status": 0, "replicas_equal": True, "distinct_batches": True}
    state = load_checkpoint(tmp_path / "model.pt")
    assert state["step"] == 5 and len(state["history"]["train"]) == 5
    assert model_from_checkpoint(tmp_path / "model.pt").arch.startswith("Hyperprior")
