@hive
Feature: The hive's API guards: authentication, input, envelope
  Protected routes need the bearer token; bad input gets 400 (413 for size) with field details,
  never a crash; every error is the envelope with the vocabulary's status.

  @HIVE-AUTH-001 @HIVE-AUTH-003
  Scenario Outline: <route> without a token is rejected with 401 and has no effect
    # The body is one the route would accept with the token: only the missing token stops it.
    When a client calls <route> without a token
    Then the response is an error envelope with code "UNAUTHORIZED"
    And the hub received 0 metadata requests
    And the worker journal shows no worker start

    Examples:
      | route                        |
      | POST /v1/models/download     |
      | POST /v1/workers/spawn       |
      | GET /v1/workers/list         |
      | POST /v1/workers/stop        |
      | POST /v1/inference           |

  @HIVE-AUTH-002 @HIVE-ENV-003
  Scenario: A wrong token is rejected with 403 and never echoed
    When a client downloads model "acme/tiny-chat" with the token "hive-wrong-token-42aa"
    Then the response is an error envelope with code "FORBIDDEN"
    And the response does not contain "hive-wrong-token-42aa"
    And the hive log does not contain "hive-wrong-token-42aa"
    And the hive log does not contain the token
    And the hub received 0 metadata requests

  @HIVE-INPUT-001
  Scenario: Malformed JSON is a validation error naming the body
    When a client posts the raw body "{\"model_ref\": " to /v1/workers/spawn
    Then the response is an error envelope with code "VALIDATION_ERROR"
    And the error details name the field "body"

  @HIVE-INPUT-002
  Scenario Outline: A wrong or missing <field> is named in the error details
    When a client posts <body> to /v1/workers/spawn
    Then the response is an error envelope with code "VALIDATION_ERROR"
    And the error details name the field "<field>"

    Examples:
      | field     | body                                                        |
      | model_ref | {"backend": "cuda", "device": 0}                             |
      | model_ref | {"model_ref": 7, "backend": "cuda", "device": 0}             |
      | device    | {"model_ref": "hf:acme/tiny-chat", "backend": "cuda", "device": "zero"} |
      | backend   | {"model_ref": "hf:acme/tiny-chat", "backend": 3, "device": 0} |

  @HIVE-INPUT-002
  Scenario: Every offending field is named, not only the first
    When a client posts {"model_ref": 7, "backend": 3, "device": "zero"} to /v1/workers/spawn
    Then the response is an error envelope with code "VALIDATION_ERROR"
    And the error details name the fields "model_ref", "backend" and "device"

  @HIVE-INPUT-003
  Scenario: A body one byte over the 1 MiB limit is refused with 413 and the limit, one at the limit is not
    When a client posts a body of 1 MiB and 1 byte to /v1/workers/stop
    Then the response is an error envelope with code "PAYLOAD_TOO_LARGE"
    And the error details say max_bytes is 1048576
    When a client posts a body of exactly 1 MiB to /v1/workers/stop
    Then the response was not refused for its size

  @HIVE-INPUT-004
  Scenario Outline: A hostile model_ref is refused
    When a client posts {"model_ref": <value>, "backend": "cuda", "device": 0} to /v1/workers/spawn
    Then the response is an error envelope with code "VALIDATION_ERROR"
    And the error details name the field "model_ref"
    And the hub received 0 metadata requests
    And the worker journal shows no worker start

    Examples:
      | value                              |
      | "hf:acme/tiny-chat; rm -rf /"       |
      | "hf:../../etc/passwd"               |
      | "/etc/passwd"                       |
      | "hf:acme/tiny\u0000chat"            |
      | "hf:acme/tiny\\nchat"               |
      | "hf:acme/tiny`reboot`"              |
      | "hf:acme/t\u00efny-chat"            |
      | "tiny-chat"                         |
      | "hf:acme/x'); DROP TABLE models;--" |
      | "hf:acme/\u001b[31mred"             |

  @HIVE-INPUT-004
  Scenario: A hostile worker_id is refused
    When a client stops workers with the ids "../../etc/passwd", "worker-1; rm -rf /", "worker-1\nINFO forged", "w\u00f6rker" and "worker-\u001b[31m"
    Then every response was an error envelope with code "VALIDATION_ERROR" naming the field "worker_id"

  @HIVE-INPUT-005
  Scenario Outline: A bad backend or device is refused naming the field
    When a client posts {"model_ref": "hf:acme/tiny-chat", "backend": <backend>, "device": <device>} to /v1/workers/spawn
    Then the response is an error envelope with code "VALIDATION_ERROR"
    And the error details name the field "<field>"
    And the worker journal shows no worker start

    Examples:
      | backend   | device | field   |
      | "quantum" | 0      | backend |
      | "cuda"    | -1     | device  |
      | "cuda"    | 1.5    | device  |
      | "cuda;ls" | 0      | backend |

  @HIVE-INPUT-006
  Scenario: A thousand random bodies never crash the hive
    When a client posts 1000 random spawn requests to /v1/workers/spawn
    Then every request was answered, none with a server error
    And the hive is still healthy

  @HIVE-ENV-001 @HIVE-ENV-003 @HIVE-VOC-001 @HIVE-VOC-002
  Scenario: Every error the hive answers at once is an envelope with its code's status and details
    # 401, 403, 404, 400, 413, WORKER_NOT_FOUND, 503 without a worker, MODEL_NOT_FOUND, GPU_VRAM_EXHAUSTED with
    # no model known to fit, CUDA_DEVICE_FAILED; a hostile model_ref and a prompt carry markers never to come back.
    Given the hub also offers model "acme/huge-chat" needing 90000 MiB of VRAM
    When a client makes one request for each error the hive answers at once
    Then each answer was an error envelope with the HTTP status and the details its code requires
    And no answer echoed the token or what the request carried
    And the hive log shows none of what the requests carried

  @HIVE-ENV-004
  Scenario: A client's correlation id comes back in the header and in the error
    When a client downloads model "acme/no-such-model" with correlation id "corr-hive-env-9"
    Then the response carries the correlation id "corr-hive-env-9" in its header and its error

  @HIVE-ENV-004
  Scenario: Without a correlation id the hive makes one and uses it consistently
    When a client downloads model "acme/no-such-model"
    Then the response carries a generated correlation id in its header and its error

  @HIVE-ENV-005
  Scenario: A known route with a method it does not serve answers 405
    When a client calls GET /v1/workers/spawn with the token
    Then the response is an error envelope with code "METHOD_NOT_ALLOWED"

  @HIVE-VOC-005
  Scenario: Stopping a worker the hive does not know answers 404 WORKER_NOT_FOUND
    When a client posts {"worker_id": "worker-does-not-exist"} to /v1/workers/stop
    Then the response is an error envelope with code "WORKER_NOT_FOUND"
