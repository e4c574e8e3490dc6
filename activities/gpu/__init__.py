"""GPU leases and GPU jobs: the holder's side of the pool coordinator (workflows/gpu_pool.py)
and commands run on a pool's GPUs under a lease (workflows/gpu_job.py)."""
