@hive
Feature: Inference routed to workers
  Inference goes to an idle worker with a free slot; a crash, an OOM or a hang ends the request
  with the right code and is never retried; a hung worker is stopped after the inference timeout.

  @HIVE-STREAM-002 @feature-streaming
  Scenario: A streamed inference ends with exactly one end event
    Given a worker for model "acme/tiny-chat" is running on GPU 0
    When a client streams an inference
    Then the stream carried tokens and ended with exactly one terminal event, "end"

  @HIVE-STREAM-001 @HIVE-STREAM-003 @HIVE-STREAM-002 @feature-streaming
  Scenario: A worker that crashes after its first tokens ends the stream with WORKER_CRASHED, not retried
    # A second worker is free: a hive that retried the stream would have somewhere to send it.
    Given workers on GPU 0 crash after 3 tokens
    And a worker for model "acme/tiny-chat" is running on GPU 0
    And another worker for model "acme/tiny-chat" is running on GPU 0
    When a client streams an inference
    Then the worker journal shows 1 inference started
    And no token reached the client twice
    And the stream carried exactly one terminal event, "error"
    And the stream ended with an error event with code "WORKER_CRASHED"
    And the error event reports the text delivered before it

  @HIVE-STREAM-004 @feature-streaming
  Scenario: A worker that crashes before its first token gets the HTTP error, not an event
    Given workers on GPU 0 crash after 0 tokens
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a client streams an inference
    Then the stream was refused with an error envelope with code "WORKER_CRASHED"

  @HIVE-GPU-008 @feature-streaming
  Scenario: A worker that runs out of VRAM mid-inference ends it with GPU_VRAM_EXHAUSTED, not retried
    Given workers on GPU 0 run out of memory after 2 tokens
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a client streams an inference
    Then the stream ended with an error event with code "GPU_VRAM_EXHAUSTED"
    And the worker journal shows 1 inference started
    And the worker journal shows no worker start on backend "cpu"

  @HIVE-GPU-008
  Scenario: A non-streaming inference whose worker runs out of VRAM ends with GPU_VRAM_EXHAUSTED, not retried
    Given workers on GPU 0 run out of memory after 2 tokens
    And the hive also sees GPU 1
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a client runs an inference
    Then the response is an error envelope with code "GPU_VRAM_EXHAUSTED"
    And the worker journal shows 1 inference started
    And the worker journal shows 1 worker start, on backend "cuda" and device 0

  @HIVE-STREAM-006
  Scenario: A non-streaming inference whose worker crashes carries the text produced before it
    Given workers on GPU 0 crash after 3 tokens
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a client runs an inference
    Then the response is an error envelope with code "WORKER_CRASHED"
    And the error details carry a non-empty delivered_text

  @HIVE-TIMEOUT-001 @HIVE-TIMEOUT-002 @HIVE-TIMEOUT-004 @HIVE-LIMIT-004 @coarse-timing
  Scenario: A worker that hangs yields 504 INFERENCE_TIMEOUT and is then stopped, its slot given back
    Given workers on GPU 0 hang after 0 tokens
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a client runs an inference
    Then the response is an error envelope with code "INFERENCE_TIMEOUT"
    And the hive gave up on the worker at the inference timeout
    And the response came before the request timeout
    And that worker's process is gone and its port is free
    Given another worker for model "acme/tiny-chat" is running on GPU 0
    When 1 client starts an inference that stays in flight at the worker
    Then the worker journal shows 2 inferences started

  @HIVE-TIMEOUT-003 @feature-streaming @coarse-timing
  Scenario: A streamed inference whose worker hangs after some tokens ends with INFERENCE_TIMEOUT
    Given workers on GPU 0 hang after 2 tokens
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a client streams an inference
    Then the stream ended with an error event with code "INFERENCE_TIMEOUT"
    And the error event reports the text delivered before it

  @HIVE-CLEANUP-006 @HIVE-LIMIT-004
  Scenario: A client that hangs up before its answer gets its worker connection closed and its slot back
    Given workers on GPU 0 hang after 0 tokens
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a client runs an inference and hangs up once the worker has started it
    Then the hive has let go of the worker within the cleanup timeout
    When 1 client starts an inference that stays in flight at the worker
    Then the worker journal shows 2 inferences started

  @HIVE-LIMIT-004
  Scenario: An inference the worker fails gives its slot back
    Given workers on GPU 0 fail after 1 token
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a client runs an inference
    Then the response is an error envelope with code "INFERENCE_FAILED"
    When a client runs an inference
    Then the worker journal shows 2 inferences started

  @HIVE-CLEANUP-006 @HIVE-LIMIT-004 @feature-streaming
  Scenario: A client that hangs up mid-stream gets its worker connection closed and its slot back
    Given workers on GPU 0 hang after 2 tokens
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a client streams an inference and hangs up after 2 events
    Then the hive has let go of the worker within the cleanup timeout
    When 1 client starts an inference that stays in flight at the worker
    Then the worker journal shows 2 inferences started

  @HIVE-LIMIT-001 @HIVE-LIMIT-002 @HIVE-LIMIT-003 @HIVE-VOC-003 @HIVE-HEALTH-002
  Scenario: The inference beyond capacity is rejected at once with 503 and Retry-After
    Given workers on GPU 0 hang after 1 token
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When 1 client starts an inference that stays in flight at the worker
    And a client runs an inference
    Then the response is an error envelope with code "SERVICE_UNAVAILABLE"
    And the error details say current_requests is 1 and max_concurrent is 1
    And the response came at once
    And the worker journal shows 1 inference started
    And the hive's health route still answers 200 without a token
