@gateway @fresh-instance
Feature: The retry schedule
  delay_n = min(1 s x 2^(n-1), 30 s) x U[0.9, 1.1]; at most 6 attempts; never past 2 minutes.
  The delays are measured at the fake provider, not taken from the gateway's word.

  @GW-RETRY-004 @GW-RETRY-005 @GW-VOC-004
  Scenario: A provider that keeps failing sees six attempts spaced by the backoff schedule
    Given provider "primary" speaks the openai wire format
    And provider "primary" always answers 503
    When a client sends a chat completion request
    Then provider "primary" received 6 requests
    And the gaps between the requests to provider "primary" follow the gateway backoff schedule
    And the response is an error envelope with code "SERVICE_UNAVAILABLE"

  @GW-RETRY-010
  Scenario: Retry delays carry jitter
    # The calls' attempts stay grouped by their number (the sixth comes after every fifth), so 50
    # failures fail each call's first five attempts and its sixth succeeds: every delay is seen, and
    # no operation fails, so the breaker stays out of it however many calls run. Ten calls decide
    # at half the time scale five would need. They overlap, each sent once the provider has the
    # one before: a burst of ten new requests delays the gateway's first retries by itself.
    Given provider "primary" speaks the openai wire format
    And provider "primary" answers 503 50 times, then streams "Hello"
    When 10 clients send chat completion requests, each with its own message, each once provider "primary" has seen the one before
    Then the gaps between the requests to provider "primary" are jittered across the 10 calls

  # The two budget scenarios pin the budget between 115 s and 125 s: a retry ending at 115 s
  # must be made, one ending at 125 s must not.
  @GW-RETRY-006 @coarse-timing
  Scenario: A retry that ends inside the two-minute budget is made
    Given provider "primary" speaks the openai wire format
    And provider "primary" answers 503 with the Retry-After hints 55, 55, 5 and 50 seconds
    When a client sends a chat completion request
    Then provider "primary" received 4 requests
    And the response is an error envelope with code "SERVICE_UNAVAILABLE"

  @GW-RETRY-006 @coarse-timing
  Scenario: A retry that would end past the two-minute budget is not made
    Given provider "primary" speaks the openai wire format
    And provider "primary" answers 503 with the Retry-After hints 55, 55 and 15 seconds
    When a client sends a chat completion request
    Then provider "primary" received 3 requests
    And the response is an error envelope with code "SERVICE_UNAVAILABLE"

  @GW-OBS-002 @GW-ENV-003
  Scenario: Every retry is logged with its attempt number and the correlation id, and no secret
    Given provider "primary" speaks the openai wire format
    And provider "primary" answers 503 2 times, then streams "Hello"
    When a client sends a chat completion request with correlation id "corr-retry-log-1"
    Then the gateway log has a line with "attempt 2/6" and "corr-retry-log-1"
    And the gateway log has a line with "attempt 3/6" and "corr-retry-log-1"
    And the gateway log contains neither the client's token, nor provider "primary"'s API key, nor the request's content

  @slow @GW-RETRY-004
  Scenario: At time scale 1 the real schedule holds: 1, 2, 4, 8, 16 seconds, each within 10 percent
    Given provider "primary" speaks the openai wire format
    And provider "primary" always answers 503
    When a client sends a chat completion request
    Then provider "primary" received 6 requests
    And the gaps between the requests to provider "primary" follow the gateway backoff schedule
