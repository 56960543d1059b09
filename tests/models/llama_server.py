"""A real llama.cpp OpenAI-compatible server for the integration tests: llama.cpp's own ``llama-server``
as linked into Python by xllamacpp, listening on 127.0.0.1:PORT until the process is terminated.

Usage: ``python tests/models/llama_server.py MODEL.gguf PORT N_CTX``
"""

from __future__ import annotations

import signal
import sys
import threading


def main(model: str, port: int, n_ctx: int) -> None:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = model
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 2
    params.sampling.seed = 0
    params.warmup = False
    params.verbosity = -1
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.model_alias = {"qwen"}
    server = xlc.Server(params)
    print(f"listening on {server.listening_address}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    del server


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
