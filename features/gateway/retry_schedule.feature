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
    Given provider "primary" speaks the openai wire format
    And provider "primary" always answers 503
    When 5 clients send chat completion requests at the same time, each with its own message
    Then the gaps between the requests to provider "primary" are jittered across the 5 calls

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
