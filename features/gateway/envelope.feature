@gateway
Feature: The error envelope and the vocabulary
  Every error is {"error": {"code", "message", "details", "correlation_id"}}, its status is the
  vocabulary's for its code, its details carry the required keys, and 429/503 say when to retry.

  Background:
    Given provider "primary" speaks the openai wire format

  @GW-ENV-004
  Scenario: A client's correlation id comes back in the header and in the error
    Given provider "primary" always answers 400
    When a client sends a chat completion request with correlation id "corr-envelope-7"
    Then the response is an error envelope with code "VALIDATION_ERROR"
    And the response carries the correlation id "corr-envelope-7" in its header and its error

  @GW-ENV-004
  Scenario: Without a correlation id the gateway makes one and uses it consistently
    Given provider "primary" always answers 400
    When a client sends a chat completion request
    Then the response carries a generated correlation id in its header and its error

  @GW-VOC-001 @GW-VOC-002 @GW-VOC-003 @fresh-instance
  Scenario Outline: A <status> from the provider is reported with the vocabulary's status, details and Retry-After
    Given provider "primary" always answers <status> with header "retry-after-ms: 1"
    When a client sends a chat completion request
    Then the response is an error envelope with code "<code>"
    And the response status is <client_status>

    Examples:
      | status | code                | client_status |
      | 429    | RATE_LIMITED        | 429           |
      | 503    | SERVICE_UNAVAILABLE | 503           |
      | 529    | SERVICE_UNAVAILABLE | 503           |
      | 500    | BAD_GATEWAY         | 502           |
      | 504    | BAD_GATEWAY         | 502           |

  @GW-VOC-007 @fresh-instance
  Scenario: A provider's failure names the provider and its last status
    Given provider "primary" always answers 502 with header "retry-after-ms: 1"
    When a client sends a chat completion request
    Then the error details say provider is "primary" and upstream_status is 502

  @GW-ENV-006
  Scenario: A known route with a method it does not serve answers 405 in the envelope
    Given the gateway is running
    When a client sends GET /v1/chat/completions to the gateway
    Then the response is an error envelope with code "METHOD_NOT_ALLOWED"

  @GW-HEALTH-002
  Scenario: Health answers while every slot is taken
    Given provider "primary" always streams "slow" and then stalls
    And the gateway admits 1 concurrent request and queues none
    When 1 client starts a chat completion request that stays in flight at provider "primary"
    And a client calls the gateway's health route without a token
    Then the response status is 200

  @GW-OBS-008
  Scenario: The correlation id travels to the provider
    Given provider "primary" streams "Hello"
    When a client sends a chat completion request with correlation id "corr-to-provider-3"
    Then every request provider "primary" received carried the correlation id "corr-to-provider-3"
