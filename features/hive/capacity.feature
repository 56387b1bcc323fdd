@hive
Feature: Capacity without workers, and queued inferences

  @HIVE-LIMIT-005
  Scenario: An inference with no ready worker answers 503 with Retry-After
    Given the hive is running
    When a client runs an inference
    Then the response is an error envelope with code "SERVICE_UNAVAILABLE"
    And the response carries a Retry-After that agrees with its error details

  @HIVE-LIMIT-001
  Scenario: A queued inference waits for the slot and is served when it frees
    Given the hive admits 1 inference per worker and queues 1
    And workers take 0.5 seconds per token
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When 2 clients run inferences at the same time
    Then both inferences completed
    And the worker ran the inferences one after the other
