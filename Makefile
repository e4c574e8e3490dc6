# The two commands: `make demo` (set up, then run one task on the embedded stack) and
# `make test` (set up, then run every test). Both work on a fresh machine.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: install demo test lint typecheck bench bench-stream bench-pii bench-quality bench-retrieval bench-retrieval-1m bench-rollout bench-telemetry bench-throughput dev histories clean

install:
	./scripts/bootstrap.sh

demo: install
	.venv/bin/naestro demo

dev: install
	.venv/bin/naestro dev

test: install
	./scripts/test-tools.sh
	$(PY) -m pytest $(PYTEST_ARGS)

lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports

typecheck:
	.venv/bin/mypy

# Each bench prints `name value` lines, its headline ratio last.
bench: install
	$(PY) bench/overhead.py
	$(PY) bench/consensus.py
	$(PY) bench/fanout.py
	$(PY) bench/api.py
	$(PY) bench/sandbox.py

# Time to first token through Naestro vs straight from the bundled engine, and what live
# tokens add to a call's history (--model, --runs, --tokens).
bench-stream: install
	$(PY) bench/stream.py

# Telemetry's overhead on bench/overhead.py's workload: off vs on (OTLP to a loopback sink).
bench-telemetry: install
	$(PY) bench/telemetry.py

# Tasks and model calls per second through TaskWorkflow against the 128 calls/s slot limit
# (64 slots, 0.5 s simulated calls), one worker process and two (--seconds,
# --tasks-in-flight; about 2 minutes).
bench-throughput: install
	$(PY) bench/throughput.py

# Naestro's added latency per real model call (the bundled engine; --model, --calls, --tokens).
bench-engine: install
	$(PY) bench/engine.py

# PII detection vs Microsoft Presidio (the bench dependency group holds Presidio; --inexact
# keeps the engine and model weights bootstrap installed).
bench-pii: install
	uv sync --frozen --inexact --group bench --quiet
	$(PY) bench/pii.py

# Policies on the real 1.5B coder over a HumanEval slice (long on CPUs; resumable).
bench-quality: install
	$(PY) bench/quality.py

SCIFACT ?= ../shared/data/scifact
bench-retrieval: install
	$(PY) bench/retrieval.py --corpus $(SCIFACT)/corpus.jsonl --queries $(SCIFACT)/queries.jsonl \
		--qrels $(SCIFACT)/qrels/train.tsv

# Memory at a million chunks: ingestion rate, index build, BM25 pruned vs full, hybrid p95
# (about 45 min on 2 cores; the SciFact judging is left to bench-retrieval).
bench-retrieval-1m: install
	$(PY) bench/retrieval.py --chunks 1000000 --quality-queries 0 --recall-queries 50 \
		--full-bm25-queries 10

# The rollout gate on simulated canary and shadow streams (--trials, --seed, --baseline-rate,
# --concentration, --canary-ratio; about 40 s).
bench-rollout: install
	$(PY) bench/rollout.py

# GPU pool sharing on a simulated clock: foreground waits and background throughput with and
# without preemption, through the real LeaseBook (--seed; about a second).
bench-gpu: install
	$(PY) bench/gpu_slots.py

# Re-records today's generation (tests/histories/vN_*.json, N: GENERATION in
# workflows/versions.py); older histories are frozen.
histories: install
	$(PY) tests/histories/record.py --force
	$(PY) tests/histories/record_memory.py --force
	$(PY) tests/histories/record_consensus.py --force
	$(PY) tests/histories/record_workflows.py --force
	$(PY) tests/histories/record_rollout.py --force
	$(PY) tests/histories/record_gpu.py --force
	$(PY) tests/histories/record_research.py --force

clean:
	rm -rf .naestro .pytest_cache .mypy_cache .ruff_cache
