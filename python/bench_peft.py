"""PyTorch + PEFT reference for `learnat bench train`: the same model (dequantized from the same
GGUF), LoRA on all projections, one random sequence whose second half carries the loss, f32 on
the CPU, AdamW; prints the median tokens/s of the timed steps as JSON.

    python python/bench_peft.py --gguf ~/.cache/learnat/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \
        --seq-len 128 --steps 2 --threads 2
"""

import argparse
import json
import os
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

p = argparse.ArgumentParser()
p.add_argument("--gguf", required=True)
p.add_argument("--seq-len", type=int, default=256)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--rank", type=int, default=16)
p.add_argument("--threads", type=int, default=os.cpu_count())
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(os.path.dirname(args.gguf), gguf_file=os.path.basename(args.gguf),
                                             torch_dtype=torch.float32)
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                                         target_modules=targets, task_type="CAUSAL_LM"))
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
ids = torch.randint(0, model.config.vocab_size, (1, args.seq_len))
labels = ids.clone()
labels[:, : args.seq_len // 2] = -100
seconds = []
for step in range(args.steps + 1):
    started = time.perf_counter()
    loss = model(input_ids=ids, labels=labels).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    if step > 0:
        seconds.append(time.perf_counter() - started)
median = sorted(seconds)[len(seconds) // 2]
print(json.dumps({"torch": torch.__version__, "threads": args.threads, "tokens_per_step": args.seq_len,
                  "step_seconds": seconds, "tokens_per_second": args.seq_len / median}))
