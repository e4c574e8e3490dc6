"""Local engines the worker starts and watches: llama.cpp on CPU, vLLM per GPU set, NIM and
TensorRT-LLM as commands or containers (temporal.yaml `engines:`)."""
