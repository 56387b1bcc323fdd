@gateway @fresh-instance
Feature: Network faults between the gateway and its providers
  Faults injected by the proxy on the path to a provider: down, reset, cut mid-stream.

  Background:
    Given provider "primary" speaks the openai wire format
    And provider "primary" streams "Hello brave new world" in 4 chunks

  @GW-RETRY-011 @coarse-timing
  Scenario: A provider that is down is retried, then reported as a bad gateway
    Given the network path to provider "primary" is down
    When a client sends a chat completion request
    Then the response is an error envelope with code "BAD_GATEWAY"
    And the gateway log has a line with "attempt 6/6" and "provider=primary"

  @GW-STREAM-002 @GW-STREAM-005 @GW-STREAM-007 @feature-streaming
  Scenario: A connection reset mid-stream ends the stream with a terminal error event
    Given the network path to provider "primary" cuts the connection after 1200 bytes of the reply
    When a client streams a chat completion
    Then the text the client received is a prefix of what provider "primary" sent, nothing repeated
    And the stream ended with an error event with code "STREAM_INTERRUPTED"
