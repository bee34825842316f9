#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) as the reference for `learnat bench llm`.

Reads one JSON request on stdin and prints one JSON answer on stdout, so that learnat and
llama.cpp see the same file, the same token ids and the same thread count:

    {"model": PATH, "threads": 2, "context": 1024,
     "speed": {"prompt": [ids...], "decode_tokens": 128} | null,
     "greedy": [{"prompt": [ids...], "max_tokens": 64, "stop": [ids...]}, ...]}

Answer:

    {"version": "0.3.36",
     "speed": {"prompt_tokens", "prefill_seconds", "time_to_first_token_seconds",
               "decode_tokens", "decode_seconds", "load_seconds"} | null,
     "greedy": [[ids...], ...],
     "peak_rss_bytes": N}

Speed: prefill evaluates the prompt in one batch after `reset()` (llama-cpp-python would
otherwise reuse a cached prefix), the first token is the argmax of the last logits, and decoding
evaluates one token at a time, greedy, never stopping early. Greedy runs stop at `max_tokens` or
on a stop id (not included).
"""
import json
import resource
import sys
import time

import numpy as np
import llama_cpp
from llama_cpp import Llama


def peak_rss_bytes():
    """VmHWM of this process. Not getrusage: Linux carries the parent's peak across fork and
    exec into ru_maxrss, so the child would report at least learnat's own peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def next_token(llm):
    """Greedy next token after the last eval: the argmax of the last evaluated position.

    With logits_all=False, llama-cpp-python 0.3 no longer copies logits into `llm.scores`
    (they stay zero, so their argmax is token 0, "!"); llama.cpp keeps the last position's
    logits, read here through llama_get_logits_ith(ctx, -1).
    """
    row = llm._ctx.get_logits_ith(-1)
    return int(np.argmax(np.ctypeslib.as_array(row, shape=(llm.n_vocab(),))))


def main():
    request = json.load(sys.stdin)
    threads = int(request["threads"])
    started = time.perf_counter()
    context = int(request.get("context", 1024))
    llm = Llama(
        model_path=request["model"],
        n_ctx=context,
        # One batch covers the whole context, so the last position's logits are those of the
        # whole prompt; n_ubatch is the compute batch.
        n_batch=context,
        n_ubatch=512,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=False,
        verbose=False,
    )
    load_seconds = time.perf_counter() - started
    answer = {"version": llama_cpp.__version__, "speed": None, "greedy": []}

    speed = request.get("speed")
    if speed:
        prompt = speed["prompt"]
        # Warm-up: page the weights in, as learnat's load does.
        llm.reset()
        llm.eval(prompt[:8])
        llm.reset()
        started = time.perf_counter()
        llm.eval(prompt)
        prefill = time.perf_counter() - started
        token = next_token(llm)
        first_token = time.perf_counter() - started
        decode_tokens = int(speed["decode_tokens"])
        started = time.perf_counter()
        for _ in range(decode_tokens):
            llm.eval([token])
            token = next_token(llm)
        decode = time.perf_counter() - started
        answer["speed"] = {
            "prompt_tokens": len(prompt),
            "prefill_seconds": prefill,
            "time_to_first_token_seconds": first_token,
            "decode_tokens": decode_tokens,
            "decode_seconds": decode,
            "load_seconds": load_seconds,
        }

    for item in request.get("greedy", []):
        llm.reset()
        llm.eval(item["prompt"])
        stop = set(item.get("stop", []))
        out = []
        for _ in range(int(item["max_tokens"])):
            token = next_token(llm)
            if token in stop:
                break
            out.append(token)
            llm.eval([token])
        answer["greedy"].append(out)

    answer["peak_rss_bytes"] = peak_rss_bytes()
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
