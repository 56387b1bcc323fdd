@gateway
Feature: The timeout cascade
  request 30 s > upstream 25 s > cleanup 5 s. A provider that hangs yields 504 after about
  25 s, never after 30 s, and whatever it held is released within 5 s more.

  Background:
    Given provider "primary" speaks the openai wire format

  @GW-TIMEOUT-001 @GW-TIMEOUT-003 @GW-TIMEOUT-005 @GW-RETRY-012 @GW-CLEANUP-002 @coarse-timing @fresh-instance
  Scenario: A provider that never answers yields 504 GATEWAY_TIMEOUT after the upstream timeout
    Given provider "primary" stalls before answering
    When a client sends a chat completion request
    Then the response is an error envelope with code "GATEWAY_TIMEOUT"
    And the gateway held no connection to provider "primary" once it answered
    And the gateway gave up on provider "primary" at the upstream timeout
    And the response came before the request timeout
    And provider "primary" received 1 request
    And the connection from the gateway to provider "primary" is closed within the cleanup timeout

  @GW-TIMEOUT-002 @feature-streaming @coarse-timing @fresh-instance
  Scenario: A stream that stalls after its first tokens ends with a GATEWAY_TIMEOUT event
    Given provider "primary" streams "Hello brave new world" in 4 chunks, then stalls after 2
    When a client streams a chat completion
    Then the stream ended with an error event with code "GATEWAY_TIMEOUT"
    And the error event reports the text delivered before it
    And the gateway gave up on provider "primary" at the upstream timeout
    And the connection from the gateway to provider "primary" is closed within the cleanup timeout

  @GW-TIMEOUT-001 @coarse-timing @fresh-instance
  Scenario: Latency on the network path beyond the upstream timeout yields 504
    Given the network path to provider "primary" adds latency beyond the upstream timeout
    When a client sends a chat completion request
    Then the response is an error envelope with code "GATEWAY_TIMEOUT"

  @GW-TIMEOUT-004
  Scenario: Latency on the network path within the upstream timeout is only slower
    Given provider "primary" streams "Hello"
    And the network path to provider "primary" adds latency of half the upstream timeout
    When a client sends a chat completion request
    Then the completion text is "Hello"
    And provider "primary" received 1 request

  @GW-TIMEOUT-005 @GW-LIMIT-004 @coarse-timing
  Scenario: A request that timed out gives its concurrency slot back
    Given provider "primary" first stalls before answering, afterwards streams "Hello"
    And the gateway admits 1 concurrent request and queues none
    When a client sends a chat completion request
    And a client sends a chat completion request once the gateway has let go of provider "primary"
    Then the completion text is "Hello"

  @GW-CLEANUP-003
  Scenario: On SIGTERM the gateway exits within the cleanup timeout, even with a request in flight
    Given provider "primary" stalls before answering
    And the gateway is running
    When 1 client starts a chat completion request that stays in flight at provider "primary"
    And the gateway receives SIGTERM
    Then the gateway exits within the cleanup timeout
    And the connection from the gateway to provider "primary" is closed within the cleanup timeout
