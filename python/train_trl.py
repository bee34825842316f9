"""Scale-out recipe: the same SFT, MDPO and GRPO objectives as `learnat train`, with TRL on many
GPUs (accelerate or DeepSpeed). Reads the files learnat's synthesis writes (sft.jsonl,
pairs.jsonl) and Spider-style questions; writes a PEFT LoRA adapter that `learnat --adapter DIR`
and vLLM load.

    accelerate launch --num_processes 8 python/train_trl.py sft  --model Qwen/Qwen2.5-Coder-7B-Instruct --data sft.jsonl --out out/sft
    accelerate launch --config_file ds_zero2.yaml python/train_trl.py mdpo --model ... --data pairs.jsonl --adapter out/sft --out out/mdpo
    accelerate launch python/train_trl.py grpo --model ... --data spider/train_spider.json --db-dir spider/database --out out/grpo
"""

import argparse
import json
import math
import sqlite3
from pathlib import Path

import torch
import torch.nn.functional as F
from datasets import Dataset
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer, GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def lora(args):
    return LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=args.dropout,
                      target_modules=TARGETS, task_type="CAUSAL_LM")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def sft(args, tokenizer):
    # The last message is the completion; TRL's prompt/completion format puts the loss on it only.
    rows = [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in read_jsonl(args.data)]
    config = SFTConfig(output_dir=args.out, learning_rate=args.lr, num_train_epochs=args.epochs,
                       gradient_accumulation_steps=args.grad_accum, lr_scheduler_type="cosine",
                       warmup_steps=args.warmup, bf16=True, completion_only_loss=True)
    trainer = SFTTrainer(model=args.model, args=config, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=lora(args))
    trainer.train()
    trainer.save_model(args.out)


class MarginDPOTrainer(DPOTrainer):
    """MDPO: DPO's logits minus the reward margin, −log σ(Δ − Δr) or −log σ(Δ − α·log Δr)."""

    def __init__(self, *a, variant="margin", margin_alpha=1.0, **k):
        super().__init__(*a, **k)
        self.variant, self.margin_alpha = variant, margin_alpha

    def dpo_loss(self, chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, *rest, **kw):
        delta = self.beta * ((chosen_logps - ref_chosen_logps) - (rejected_logps - ref_rejected_logps))
        margin = self._current_margin.to(delta.device)
        offset = margin if self.variant == "margin" else self.margin_alpha * torch.log(margin)
        losses = -F.logsigmoid(delta - offset)
        chosen = self.beta * (chosen_logps - ref_chosen_logps).detach()
        rejected = self.beta * (rejected_logps - ref_rejected_logps).detach()
        return losses, chosen, rejected

    def concatenated_forward(self, model, batch, *a, **k):
        self._current_margin = batch["margin"]
        return super().concatenated_forward(model, batch, *a, **k)


def mdpo(args, tokenizer):
    rows = []
    for r in read_jsonl(args.data):
        prompt = tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) + r.get("prefix", "")
        margin = r.get("margin", r.get("chosen_reward", 0) - r.get("rejected_reward", 0))
        rows.append({"prompt": prompt, "chosen": r["chosen"], "rejected": r["rejected"], "margin": float(margin)})
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.bfloat16)
    if args.adapter:  # continue the SFT adapter; TRL uses the adapter-free model as reference
        model = PeftModel.from_pretrained(model, args.adapter, is_trainable=True)
    config = DPOConfig(output_dir=args.out, beta=args.beta, learning_rate=args.lr, num_train_epochs=args.epochs,
                       gradient_accumulation_steps=args.grad_accum, lr_scheduler_type="cosine",
                       warmup_steps=args.warmup, bf16=True, remove_unused_columns=False)
    trainer_cls = DPOTrainer if args.objective == "dpo" else MarginDPOTrainer
    extra = {} if args.objective == "dpo" else {"variant": args.objective, "margin_alpha": args.margin_alpha}
    trainer = trainer_cls(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                          peft_config=None if args.adapter else lora(args), **extra)
    trainer.train()
    trainer.save_model(args.out)


def extract_sql(text):
    if "```" in text:
        block = text.split("```")[1]
        return block[3:].strip() if block.lower().startswith("sql") else block.strip()
    return text.strip()


def execution_reward(db_dir):
    """1 when the result matches the gold's, 0.1 when the SQL runs, 0 otherwise (as learnat)."""
    def run(db_id, sql):
        with sqlite3.connect(f"file:{Path(db_dir) / db_id / (db_id + '.sqlite')}?mode=ro", uri=True) as c:
            return sorted(map(repr, c.execute(sql).fetchall()))

    def reward(completions, db_id, gold_sql, **_):
        scores = []
        for completion, db, gold in zip(completions, db_id, gold_sql):
            text = completion[-1]["content"] if isinstance(completion, list) else completion
            try:
                predicted = run(db, extract_sql(text))
            except Exception:
                scores.append(0.0)
                continue
            scores.append(1.0 if predicted == run(db, gold) else 0.1)
        return scores
    return reward


def grpo(args, tokenizer):
    questions = json.load(open(args.data)) if args.data.endswith(".json") else read_jsonl(args.data)
    rows = [{"prompt": q.get("messages") or [{"role": "user", "content": q["question"]}],
             "db_id": q["db_id"], "gold_sql": q.get("query") or q["gold_sql"]} for q in questions]
    config = GRPOConfig(output_dir=args.out, learning_rate=args.lr, num_generations=args.group, beta=args.kl_beta,
                        epsilon=args.clip, max_completion_length=args.max_new_tokens, bf16=True,
                        gradient_accumulation_steps=args.grad_accum, num_train_epochs=args.epochs)
    trainer = GRPOTrainer(model=args.model, reward_funcs=execution_reward(args.db_dir), args=config,
                          train_dataset=Dataset.from_list(rows), processing_class=tokenizer, peft_config=lora(args))
    trainer.train()
    trainer.save_model(args.out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["sft", "mdpo", "grpo"])
    p.add_argument("--model", required=True, help="Hugging Face model id or path (the GGUF's source model)")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--adapter", help="start from this adapter (mdpo after sft)")
    p.add_argument("--db-dir", help="grpo: DIR/db_id/db_id.sqlite")
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--grad-accum", type=int, default=8)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--objective", choices=["margin", "log-margin", "dpo"], default="margin")
    p.add_argument("--margin-alpha", type=float, default=1.0)
    p.add_argument("--group", type=int, default=4)
    p.add_argument("--clip", type=float, default=0.2)
    p.add_argument("--kl-beta", type=float, default=0.04)
    p.add_argument("--max-new-tokens", type=int, default=128)
    args = p.parse_args()
    if args.objective == "log-margin":
        args.objective = "log_margin"
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    {"sft": sft, "mdpo": mdpo, "grpo": grpo}[args.command](args, tokenizer)


if __name__ == "__main__":
    main()
