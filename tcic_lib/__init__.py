"""tcic_lib: the library behind the TCIC course (text as decoder-side information).

One module per concept, each naming the notebook that teaches it. Imports run one way, down
this map (a module imports only from layers above it in this list, never from below):

    config      profiles of composed configs (data / codec / train / clip), device, seeds     00
    data/       shapes (CaptionedShapes, captions, H(T)), photos, datasets (CUB, COCO, ...)    00, 03
    images      image conversions;   text  tokenizer, frozen CLIP encoders (no training)      03
    quantization  rounding and its training proxies, rate estimates                          01
    attributes  colour / pattern / shape read off a reconstruction (semantic fidelity)         05
    ---
    fusion      how a decoder reads a caption: FiLM, SSA, cross-attention, positional x-attn   04, 05
    models      Factorized, Hyperprior (CompressAI conventions, one rANS string)               02
    tcic        TCIC (caption at the decoder) and ConditionalTCIC (caption at both ends)       05
    conditioning  captions -> decoder features (true / unrelated / none, dropout)              05
    architectures  every codec by name;   bitstream  the .tcic file format                     01, 02
    ---
    metrics     PSNR, MS-SSIM, LPIPS, FID/KID, BD-rate;   losses  LPIPS and hinge terms        02, 06, 07
    texture     blur and pattern contrast, measured from the scenes' known geometry            06
    checkpoint  one file format;   loop  one training loop;   distributed  torchrun / DDP       02
    train (RD step), contrastive (mini-CLIP step), adversarial (GAN step)                     02, 03, 06
    ---
    shipping    shipped fp16 checkpoints;   zoo  zoo.fetch(recipe) for anything trained         02-08
    evaluate    one result schema: per-image rows, summaries, curves, BD tables                 02, 07
    ledger      the side-information bound and the bits ledger, with bootstrap intervals        05
    plan        what each notebook fetches;   ablate, plots, widgets                            05, 07, 08
    ---
    cli         the `tcic` command;   course/  running the course, student versions, sync, Colab
"""

__version__ = "0.2.0"

import warnings as _warnings

# compressai scripts a helper at import; torch 2.14 warns about it on every import. Not ours to fix.
_warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
