@hive
Feature: Downloading models from the hub
  Transient hub failures are retried after 1, 2, 4, 8 and 16 s, each plus up to 1 s of jitter:
  one first attempt and at most five retries. Permanent failures are never retried.

  @HIVE-RETRY-001 @HIVE-CLEANUP-008
  Scenario Outline: A transient <status> from the hub is retried until the download succeeds
    Given the hub answers <status> 2 times, then serves the model
    When a client downloads model "acme/tiny-chat"
    Then the response status is 200
    And the hub received 3 metadata requests
    And the hive holds no connection to the hub

    Examples:
      | status |
      | 500    |
      | 502    |
      | 503    |
      | 429    |
      | 408    |

  @HIVE-RETRY-001
  Scenario: A hub that resets the connection is retried
    Given the hub resets the connection 2 times, then serves the model
    When a client downloads model "acme/tiny-chat"
    Then the response status is 200
    And the hub received 3 metadata requests

  @HIVE-RETRY-001 @coarse-timing
  Scenario: A hub that stalls is retried once the attempt times out
    Given the hub stalls 1 time, then serves the model
    When a client downloads model "acme/tiny-chat"
    Then the response status is 200
    And the hub received 2 metadata requests

  @HIVE-RETRY-002 @HIVE-VOC-004
  Scenario: A model the hub does not know is not retried
    When a client downloads model "acme/no-such-model"
    Then the response is an error envelope with code "MODEL_NOT_FOUND"
    And the hub received 1 metadata request

  @HIVE-RETRY-002
  Scenario Outline: A permanent <status> from the hub is never retried
    Given the hub always answers <status>
    When a client downloads model "acme/tiny-chat"
    Then the hub received 1 metadata request

    Examples:
      | status |
      | 400    |
      | 401    |
      | 403    |

  @HIVE-RETRY-003 @HIVE-RETRY-004 @HIVE-VOC-004 @HIVE-CLEANUP-008
  Scenario: A hub that keeps failing sees six attempts spaced 1, 2, 4, 8 and 16 seconds plus jitter
    Given the hub always answers 503
    When a client downloads model "acme/tiny-chat"
    Then the response is an error envelope with code "DOWNLOAD_FAILED"
    And the hub received 6 metadata requests
    And the error details say attempts is 6
    And the gaps between the requests to the hub follow the hive backoff schedule
    And the hive holds no connection to the hub
    And the hive's temp dir is empty

  @HIVE-RETRY-005 @HIVE-RETRY-004
  Scenario: Retry jitter varies between downloads, each delay inside its window
    # The downloads' attempts stay grouped by their number (the sixth comes after every fifth), so
    # 50 failures fail each download's first five attempts and its sixth succeeds: every delay is
    # seen, and no download fails, so the breaker stays out of it however many run. Ten downloads
    # decide at less than half the time scale four would need. They overlap, each started once the
    # hub has the one before: a burst of new requests delays the hive's first retries by itself.
    Given the hub also offers models "acme/chat-1" to "acme/chat-10"
    And the hub answers 503 50 times, then serves the model
    When clients download models "acme/chat-1" to "acme/chat-10", each once the hub has seen the one before
    Then the gaps between the requests to the hub are jittered across the 10 downloads

  @HIVE-OBS-001
  Scenario: Every hub retry is logged with its attempt number and the correlation id
    Given the hub answers 503 2 times, then serves the model
    When a client downloads model "acme/tiny-chat" with correlation id "corr-hive-dl-1"
    Then the hive log has a line with "attempt 2/6" and "corr-hive-dl-1"
    And the hive log has a line with "attempt 3/6" and "corr-hive-dl-1"

  @HIVE-OBS-002
  Scenario: The correlation id travels to the hub
    When a client downloads model "acme/tiny-chat" with correlation id "corr-hive-hub-2"
    Then every request the hub received carried the correlation id "corr-hive-hub-2"

  @HIVE-OBS-002
  Scenario: The correlation id travels to the worker
    Given a worker for model "acme/tiny-chat" is running on GPU 0
    When a client runs an inference with correlation id "corr-hive-worker-3"
    Then every inference the worker journal shows carried the correlation id "corr-hive-worker-3"

  @HIVE-CLEANUP-008 @coarse-timing
  Scenario: A download cut half way leaves no partial file
    Given the hub cuts every file transfer after 1000 bytes
    When a client downloads model "acme/tiny-chat"
    Then the response is an error envelope with code "DOWNLOAD_FAILED"
    And the hive's temp dir is empty
    And no partial model file is left in the hive's directories
    And the hive holds no connection to the hub

  @slow @HIVE-RETRY-004
  Scenario: At time scale 1 the real hive schedule holds
    Given the hub always answers 503
    When a client downloads model "acme/tiny-chat"
    Then the hub received 6 metadata requests
    And the gaps between the requests to the hub follow the hive backoff schedule

  @HIVE-RETRY-001 @HIVE-VOC-004 @coarse-timing
  Scenario: A hub that cannot be reached is retried, then the download fails
    Given the network path to the hub is down
    When a client downloads model "acme/tiny-chat"
    Then the response is an error envelope with code "DOWNLOAD_FAILED"
    And the hive log has a line with "attempt 6/6" and "correlation"
