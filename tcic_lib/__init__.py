"""tcic_lib: the library behind the TCIC course (text as decoder-side information).

Each module holds one concept and names the notebook that teaches it.
"""

__version__ = "0.1.0"
