@gateway @feature-metrics
Feature: Metrics
  Prometheus metrics named after seed 004 section 10 count what happened.

  @GW-OBS-001
  Scenario: The metrics page exposes the four seed metrics
    Given provider "primary" speaks the openai wire format
    And the gateway is running
    When a client reads the gateway metrics
    Then the metrics include "llm_request_duration_ms", "llm_request_retries_total", "llm_streaming_errors_total" and "llm_fallback_triggered_total"

  @GW-OBS-003 @GW-OBS-004 @feature-streaming @fresh-instance
  Scenario: Retries and streaming errors are counted
    Given provider "primary" speaks the openai wire format
    And provider "primary" answers 503 2 times, then streams "Hello brave new world" in 4 chunks, then cuts the connection after 2
    When a client streams a chat completion
    Then the metric "llm_request_retries_total" with provider "primary" is 2
    And the metric "llm_streaming_errors_total" with category "transient" is 1

  @GW-OBS-006 @fresh-instance
  Scenario: Every completed request is observed once in the duration histogram
    Given provider "primary" speaks the openai wire format
    And provider "primary" answers 400 1 time, then streams "Hello"
    When a client sends 3 chat completion requests one after another
    Then the metric "llm_request_duration_ms_count" summed over all labels is 3
