@hive
Feature: GPU failures fail fast
  No CPU fallback, no other device, no retry. CUDA_DEVICE_FAILED when a device is absent or
  fails to initialise; GPU_VRAM_EXHAUSTED when the model does not fit, checked before any
  worker starts, or when the worker runs out while loading.

  @HIVE-GPU-009
  Scenario: A worker starts with exactly the requested backend, device and rbee's flags
    Given the hive also sees GPU 1
    When a client spawns a worker for model "acme/tiny-chat" on cuda device 1
    Then the response status is 200
    And the worker journal shows 1 worker start, on backend "cuda" and device 1
    And every worker start carried rbee's flags

  @HIVE-GPU-001 @HIVE-GPU-002 @HIVE-GPU-003 @HIVE-GPU-004 @HIVE-CLEANUP-002
  Scenario: A device that fails to initialise fails the spawn at once, with no fallback
    Given GPU 0 fails to initialise
    And the hive also sees GPU 1
    When a client spawns a worker for model "acme/tiny-chat" on cuda device 0
    Then the worker journal shows no worker start on backend "cpu"
    And every worker start in the journal used device 0
    And the worker journal shows at most 1 worker start
    And the response is an error envelope with code "CUDA_DEVICE_FAILED"
    And the error details say device is 0
    And no worker process is left
    And the hive's temp dir is empty

  @HIVE-GPU-001
  Scenario: A device that does not exist fails the spawn before any worker starts
    When a client spawns a worker for model "acme/tiny-chat" on cuda device 5
    Then the response is an error envelope with code "CUDA_DEVICE_FAILED"
    And the error details say device is 5
    And the worker journal shows no worker start

  @HIVE-GPU-005 @HIVE-GPU-007
  Scenario: A model larger than the free VRAM is refused before any worker starts
    # 20000 MiB fit in the device's total VRAM (81920 MiB), not in its free VRAM; big-chat is known but does not fit.
    Given the hub also offers model "acme/huge-chat" needing 20000 MiB of VRAM
    And the hub also offers model "acme/small-chat" needing 1024 MiB of VRAM
    And the hub also offers model "acme/big-chat" needing 9000 MiB of VRAM
    And GPU 0 has 8000 MiB of free VRAM
    And the hive has downloaded model "acme/small-chat"
    And the hive has downloaded model "acme/big-chat"
    When a client spawns a worker for model "acme/huge-chat" on cuda device 0
    Then the worker journal shows no worker start
    And the response is an error envelope with code "GPU_VRAM_EXHAUSTED"
    And the VRAM details say 20000 MiB required and 8000 MiB available on device 0
    And the alternative models fit in 8000 MiB and include "acme/small-chat"

  @HIVE-GPU-006 @HIVE-GPU-002 @HIVE-GPU-004
  Scenario: A worker that runs out of VRAM while loading fails the spawn
    Given GPU 0 runs out of memory while loading
    When a client spawns a worker for model "acme/tiny-chat" on cuda device 0
    Then the worker journal shows no worker start on backend "cpu"
    And the worker journal shows at most 1 worker start
    And the response is an error envelope with code "GPU_VRAM_EXHAUSTED"

  @HIVE-RETRY-006 @coarse-timing
  Scenario: A spawn whose model cannot be downloaded starts no worker
    Given the hub always answers 503
    When a client spawns a worker for model "acme/tiny-chat" on cuda device 0
    Then the response is an error envelope with code "DOWNLOAD_FAILED"
    And the hub received 6 metadata requests
    And the gaps between the requests to the hub follow the hive backoff schedule
    And the worker journal shows no worker start

  @HIVE-TIMEOUT-005 @HIVE-CLEANUP-002 @coarse-timing
  Scenario: A worker that never reports ready is stopped and the spawn fails
    Given workers on GPU 0 never finish loading
    When a client spawns a worker for model "acme/tiny-chat" on cuda device 0
    Then the response is an error envelope with code "WORKER_SPAWN_FAILED"
    And no worker process is left
    And the hive's temp dir is empty

  @HIVE-EXIT-005
  Scenario: A daemon told to use a missing GPU exits 1 at once with CUDA_DEVICE_FAILED
    Given the hive is configured to use GPU 3
    When the hive is started
    Then the hive exited with code 1 and reported "CUDA_DEVICE_FAILED"
    And it exited at once after asking nvidia-smi
    And the worker journal shows no worker start

  @HIVE-EXIT-005
  Scenario: A daemon on a machine whose GPU driver is missing exits 1 at once
    Given the GPU driver is missing
    And the hive is configured to use GPU 0
    When the hive is started
    Then the hive exited with code 1 and reported "CUDA_DEVICE_FAILED"
    And it exited at once after asking nvidia-smi
