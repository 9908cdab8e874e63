"""Runs llama.cpp's converter, convert_hf_to_gguf.py, optionally naming the BPE pre-tokenizer it cannot recognise.

    python scripts/gguf_convert.py CONVERTER [--pre-tokenizer NAME] -- CONVERTER_ARGUMENTS...

The converter identifies a BPE tokenizer's pre-tokenizer (how text is split before merging) by hashing the tokens of
a fixed test string, and refuses a tokenizer whose hash it does not know: course-tiny's vocabulary is its own, so its
hash is new, although it splits text exactly as GPT-2 does. `--pre-tokenizer gpt-2` (llama.cpp's name) says so, as a line added to
`get_vocab_base_pre` would; lesson 10 then checks that llama.cpp tokenizes every prompt as the course's tokenizer does.
Without `--pre-tokenizer` it is the converter, unchanged. Course_utils.gguf.convert starts it in a subprocess.
"""

import argparse
import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("converter", type=Path, help="llama.cpp's convert_hf_to_gguf.py (make gguf extracts it)")
    parser.add_argument("--pre-tokenizer", help="the pre-tokenizer to record when the converter does not know it")
    options, rest = parser.parse_known_args()
    if rest[:1] == ["--"]:
        rest = rest[1:]
    here = options.converter.resolve().parent
    # The converter's own gguf-py goes first, as the converter itself arranges: the course's gguf package is older.
    sys.path[:0] = [str(here), str(here / "gguf-py")]
    if options.pre_tokenizer:
        from conversion import base

        base.TextModel.get_vocab_base_pre = lambda self, tokenizer: options.pre_tokenizer
    sys.argv = [str(options.converter), *rest]
    runpy.run_path(str(options.converter), run_name="__main__")
