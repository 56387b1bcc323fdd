@gateway @coarse-timing @fresh-instance
Feature: A circuit breaker per provider
  Five consecutive failed operations (a call with all its retries) open the breaker; while
  open, calls fail at once with 503 CIRCUIT_BREAKER_OPEN and the provider sees nothing; after
  the 60 s cooldown exactly one trial passes; it closes the breaker or reopens it. A probe is a
  call made while the breaker is open: right after it opened, and 5 s before the earliest its
  cooldown can end, where a shorter cooldown or a Retry-After that does not count down shows.

  Background:
    Given provider "primary" speaks the openai wire format

  @GW-BREAKER-001 @GW-BREAKER-003 @GW-BREAKER-004 @GW-BREAKER-007 @GW-VOC-003
  Scenario: Five failed operations open the breaker and the provider sees no more requests
    Given provider "primary" always answers 503 with header "retry-after-ms: 1"
    When a client sends 5 chat completion requests one after another
    And a client probes the breaker of provider "primary" right after it opened
    And a client probes the breaker of provider "primary" shortly before its cooldown ends
    Then every probe was rejected at once with 503 CIRCUIT_BREAKER_OPEN, and provider "primary" saw no request
    And every probe carried a Retry-After of the cooldown left
    And provider "primary" received 30 requests

  # One scenario per status: each answer's code is the vocabulary clause of its status, not the breaker's.
  @GW-BREAKER-002 @GW-VOC-005
  Scenario: Client errors (400) do not count against the breaker
    Given provider "primary" always answers 400
    When a client sends 6 chat completion requests one after another
    Then provider "primary" received 6 requests
    And every response was an error envelope with code "VALIDATION_ERROR"

  @GW-BREAKER-002 @GW-VOC-006
  Scenario: Client errors (401) do not count against the breaker
    Given provider "primary" always answers 401
    When a client sends 6 chat completion requests one after another
    Then provider "primary" received 6 requests
    And every response was an error envelope with code "BAD_GATEWAY"

  @GW-BREAKER-004
  Scenario: After the cooldown one trial passes and a success closes the breaker
    Given provider "primary" answers 503 with header "retry-after-ms: 1" 30 times, then streams "Back again" 3 times, then answers 503 again
    When a client sends 5 chat completion requests one after another
    And the breaker cooldown of provider "primary" has elapsed
    And a client sends a chat completion request
    Then provider "primary" received 31 requests
    And the response status is 200
    # Closed: calls pass again, and it takes five more failed operations, every attempt of them, to reopen it.
    When a client sends 2 chat completion requests one after another
    Then every response had status 200
    When a client sends 5 chat completion requests one after another
    And a client sends a chat completion request
    Then provider "primary" received 30 requests during the 5 calls and none during the one after them
    And the response is an error envelope with code "CIRCUIT_BREAKER_OPEN"

  @GW-BREAKER-005 @GW-HEALTH-002
  Scenario: A failed trial reopens the breaker for another cooldown
    Given provider "primary" always answers 503 with header "retry-after-ms: 1"
    When a client sends 5 chat completion requests one after another
    And the breaker cooldown of provider "primary" has elapsed
    And a client sends a chat completion request
    And a client sends a chat completion request
    Then provider "primary" received 36 requests
    And the response is an error envelope with code "CIRCUIT_BREAKER_OPEN"
    # Health is exempt from upstream state: an open breaker leaves it at 200.
    And the gateway is still healthy

  @GW-BREAKER-006
  Scenario: While the half-open trial runs, other calls are rejected
    Given provider "primary" answers 503 with header "retry-after-ms: 1" 30 times, then stalls
    When a client sends 5 chat completion requests one after another
    And the breaker cooldown of provider "primary" has elapsed
    And a client starts a chat completion request that stays in flight at provider "primary"
    And a client sends a chat completion request
    Then provider "primary" received 31 requests
    And the response is an error envelope with code "CIRCUIT_BREAKER_OPEN"

  @GW-BREAKER-008
  Scenario: A success resets the count of failed operations
    Given provider "primary" fails 4 operations, succeeds once, fails 4 more, then streams "Still closed"
    When a client sends 9 chat completion requests one after another
    And a client sends a chat completion request
    Then the completion text is "Still closed"
    And provider "primary" received 50 requests
