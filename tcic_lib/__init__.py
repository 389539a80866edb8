"""tcic_lib: the library behind the TCIC course (text as decoder-side information).

Each module holds one concept and names the notebook that teaches it.
"""

__version__ = "0.1.0"

import warnings as _warnings

# compressai scripts a helper at import; torch 2.14 warns about it on every import. Not ours to fix.
_warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
