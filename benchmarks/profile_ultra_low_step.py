"""Where one decoder-only step of the ultra-low recipe (pxattn TCIC, cpu profile) spends its time: torch.profiler.

    .venv/bin/python benchmarks/profile_ultra_low_step.py
"""
import time, torch
from torch.profiler import profile as tprof, ProfilerActivity
from tcic_lib import zoo
from tcic_lib.config import profile
from tcic_lib.architectures import build_model
from tcic_lib.train import freeze_encoder_side
from compressai.losses import RateDistortionLoss
from tcic_lib.plan import _text_condition
torch.set_num_threads(1)
p = profile("cpu")
enc = zoo.minclip_spec(p)
r = zoo.tcic_recipe("tcic", enc, p, p.lowest_lmbda, fusion="pxattn")
s = r.codec_settings
m = build_model(s["arch"], **s["model"])
freeze_encoder_side(m)
x = torch.rand(8, 3, 64, 64)
text = _text_condition(s["model"]["text_dim"], 8)
loss = RateDistortionLoss(1e-4)
opt = torch.optim.Adam([q for q in m.parameters() if q.requires_grad], 1e-3)
def step():
    out = m(x, text); l = loss(out, x)["loss"]; opt.zero_grad(); l.backward(); opt.step()
for _ in range(3): step()
t=time.perf_counter()
for _ in range(10): step()
print("step s", (time.perf_counter()-t)/10)
with tprof(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
    for _ in range(5): step()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))
# encoder side share
with torch.no_grad():
    t=time.perf_counter()
    for _ in range(10):
        y = m.g_a(x); z = m.h_a(torch.abs(y)); 
    print("g_a+h_a fwd s", (time.perf_counter()-t)/10)
