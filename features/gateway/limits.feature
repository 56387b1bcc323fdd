@gateway
Feature: Concurrency limits
  With capacity N (slots plus a bounded queue), exactly N requests are admitted; request N+1
  gets 503 with Retry-After and details current_requests, max_concurrent, retry_after_seconds.

  @GW-LIMIT-001 @GW-LIMIT-002 @GW-LIMIT-003
  Scenario: The request beyond capacity is rejected at once with 503 and Retry-After
    Given provider "primary" speaks the openai wire format
    And provider "primary" always streams "slow" and then stalls
    And the gateway admits 2 concurrent requests and queues none
    When 2 clients start chat completion requests that stay in flight at provider "primary"
    And a client sends a chat completion request
    Then the response is an error envelope with code "SERVICE_UNAVAILABLE"
    And the response came at once
    And the error details say current_requests is 2 and max_concurrent is 2
    And the response carries a Retry-After that agrees with its error details
    And provider "primary" received 2 requests

  @GW-LIMIT-004
  Scenario: A slot comes back when its client hangs up
    Given provider "primary" speaks the openai wire format
    And provider "primary" first streams "one two three" in 3 chunks then stalls after 1, afterwards streams "Hello"
    And the gateway admits 1 concurrent request and queues none
    When a client sends a chat completion request and hangs up once provider "primary" has received it
    And a client sends a chat completion request once the gateway has let go of provider "primary"
    Then the completion text is "Hello"

  @GW-LIMIT-004
  Scenario: A slot comes back when its request ends in an upstream error
    Given provider "primary" speaks the openai wire format
    And provider "primary" answers 400 1 time, then streams "Hello"
    And the gateway admits 1 concurrent request and queues none
    When a client sends a chat completion request
    And a client sends a chat completion request once the gateway has let go of provider "primary"
    Then the completion text is "Hello"

  @GW-LIMIT-004 @feature-streaming
  Scenario: A slot comes back when its client hangs up mid-stream
    Given provider "primary" speaks the openai wire format
    And provider "primary" first streams "one two three" in 3 chunks then stalls after 1, afterwards streams "Hello"
    And the gateway admits 1 concurrent request and queues none
    When a client streams a chat completion and hangs up after 1 events
    And a client sends a chat completion request once the gateway has let go of provider "primary"
    Then the completion text is "Hello"

  @GW-LIMIT-005 @GW-LIMIT-001 @coarse-timing
  Scenario: A queued request is served when the slot frees
    Given provider "primary" speaks the openai wire format
    And provider "primary" first streams "one two three" in 3 chunks then stalls after 1, afterwards streams "Hello"
    And the gateway admits 1 concurrent request and queues 1
    When 1 client starts a chat completion request that stays in flight at provider "primary"
    And 2 clients send chat completion requests at the same time
    Then one of them was rejected with "SERVICE_UNAVAILABLE" and the other received "Hello"
    And the queued request reached provider "primary" only once the first had timed out
