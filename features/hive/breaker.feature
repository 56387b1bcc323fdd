@hive @coarse-timing
Feature: A circuit breaker on the hub
  Five consecutive failed downloads (each with all its retries) open the breaker; while open,
  downloads fail at once with 503 CIRCUIT_BREAKER_OPEN and the hub sees nothing; after 60 s one
  trial passes, and it closes or reopens the breaker. A probe is a download made while the
  breaker is open: right after it opened, and 5 s before the earliest its cooldown can end,
  where a shorter cooldown or a Retry-After that does not count down shows. Failed downloads of
  different models overlap (each takes its whole 31 s backoff), so five of them take one backoff.

  @HIVE-BREAKER-001 @HIVE-BREAKER-003 @HIVE-BREAKER-004 @HIVE-BREAKER-007 @HIVE-VOC-003 @HIVE-HEALTH-002
  Scenario: Five failed downloads open the breaker, and its cooldown is 60 s from the opening
    # The hub would serve a 31st request: a probe that reached it would pass, and so does the trial.
    Given the hub also offers models "acme/chat-1" to "acme/chat-5"
    And the hub answers 503 30 times, then serves the model
    # The fifth failure comes a retry cycle (31 s) after the first four: Retry-After must count from the opening.
    When clients download models "acme/chat-1" to "acme/chat-4" at the same time, then "acme/chat-5"
    And a client probes the hub breaker right after it opened
    Then the hive's health route still answers 200 without a token
    # The probes must not move the cooldown: 60 s after the opening the trial passes.
    When a client probes the hub breaker shortly before its cooldown ends
    And the hub breaker cooldown has elapsed
    And a client downloads model "acme/tiny-chat"
    Then the response status is 200
    And every probe was rejected at once with 503 CIRCUIT_BREAKER_OPEN, and the hub saw no request
    And every probe carried a Retry-After of the cooldown left
    And the hub received 31 metadata requests

  @HIVE-BREAKER-002
  Scenario: Unknown models do not count against the breaker
    When a client downloads model "acme/no-such-model" 6 times one after another
    Then the hub received 6 metadata requests
    And every response was an error envelope with code "MODEL_NOT_FOUND"

  @HIVE-BREAKER-004
  Scenario: After the cooldown one trial passes and a success closes the breaker
    # Distinct models: a model on disk is not fetched again, so repeating one would never reach the hub.
    Given the hub also offers models "acme/chat-1" to "acme/chat-13"
    And the hub answers 503 30 times, then serves the model 3 times, then answers 503 again
    When clients download models "acme/chat-1" to "acme/chat-5" at the same time
    And the hub breaker cooldown has elapsed
    And a client downloads model "acme/tiny-chat"
    Then the hub received 31 metadata requests
    And the response status is 200
    # Closed: downloads pass again, and it takes five more failed downloads, every attempt of them, to reopen it.
    When a client downloads models "acme/chat-6" to "acme/chat-7" one after another
    Then every response had status 200
    When clients download models "acme/chat-8" to "acme/chat-12" at the same time
    And a client downloads model "acme/chat-13"
    Then the hub received 30 metadata requests during the 5 downloads and none during the one after them
    And the response is an error envelope with code "CIRCUIT_BREAKER_OPEN"

  @HIVE-BREAKER-005 @HIVE-BREAKER-003
  Scenario: A failed trial reopens the breaker, for downloads and for spawns that need one
    Given the hub also offers models "acme/chat-1" to "acme/chat-5"
    And the hub always answers 503
    When clients download models "acme/chat-1" to "acme/chat-5" at the same time
    And the hub breaker cooldown has elapsed
    And a client downloads model "acme/tiny-chat"
    And a client downloads model "acme/tiny-chat"
    Then the hub received 36 metadata requests
    And the response is an error envelope with code "CIRCUIT_BREAKER_OPEN"
    When a client spawns a worker for model "acme/tiny-chat" on cuda device 0
    Then the response is an error envelope with code "CIRCUIT_BREAKER_OPEN"
    And the hub received 36 metadata requests
    And the worker journal shows no worker start

  @HIVE-BREAKER-006
  Scenario: While the trial is in flight other downloads are rejected
    Given the hub also offers model "acme/other-chat" needing 2048 MiB of VRAM
    And the hub also offers models "acme/chat-1" to "acme/chat-5"
    And the hub answers 503 30 times, then stalls
    When clients download models "acme/chat-1" to "acme/chat-5" at the same time
    And the hub breaker cooldown has elapsed
    And a client starts a download that stays in flight at the hub
    And a client downloads model "acme/other-chat"
    Then the hub received 31 metadata requests
    And the response is an error envelope with code "CIRCUIT_BREAKER_OPEN"

  @HIVE-BREAKER-008 @HIVE-BREAKER-001
  Scenario: A successful download resets the count, and four failed downloads leave the breaker closed
    # Distinct models: a model on disk is not fetched again, so repeating one would never reach the hub.
    Given the hub also offers models "acme/chat-1" to "acme/chat-10"
    And the hub fails 4 downloads, succeeds once, fails 4 more, then serves the model
    When clients download models "acme/chat-1" to "acme/chat-4" at the same time
    And a client downloads model "acme/chat-5"
    And clients download models "acme/chat-6" to "acme/chat-9" at the same time
    And a client downloads model "acme/chat-10"
    Then the response status is 200
    And the hub received 50 metadata requests
