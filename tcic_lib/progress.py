"""Progress bars: live widgets in a notebook, plain text where the output is kept (`make course` pages).

An exported HTML page cannot run a widget's JavaScript, so a widget bar shows its first state
("0/4000"); a text bar's last state is what stays once the carriage returns are coalesced.
`tcic course` sets `TCIC_TEXT_PROGRESS=1` for the kernels it starts; everywhere else the bars are
tqdm's usual ones.
"""

import os

if os.environ.get("TCIC_TEXT_PROGRESS") == "1":
    from tqdm.std import tqdm
else:
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
