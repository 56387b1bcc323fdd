@hive
Feature: Workers end cleanly and are accounted for
  A stopped, crashed, hung or abandoned worker leaves no process, no port and no temp files,
  and the hive reports how it ended: its exit code, or 128 + signal (137 after SIGKILL).

  @HIVE-CLEANUP-001 @HIVE-EXIT-006
  Scenario: A stopped worker is gone and its exit is reported as the worker journaled it
    Given a worker for model "acme/tiny-chat" is running on GPU 0
    When a client stops that worker
    Then that worker's process is gone and its port is free
    And the hive's temp dir is empty
    And the stop response reports the exit code the worker journaled

  @HIVE-EXIT-007 @HIVE-CLEANUP-005
  Scenario: A worker that ignores SIGTERM is killed within the cleanup timeout and reported as 137
    Given workers on GPU 0 ignore SIGTERM
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a client stops that worker
    Then the stop response reports exit code 137
    And the stop took less than the cleanup timeout
    And that worker's process is gone and its port is free

  @HIVE-CLEANUP-007 @HIVE-STREAM-005 @HIVE-EXIT-006
  Scenario: A worker that crashes during an inference is reaped and reported
    Given workers on GPU 0 crash after 2 tokens
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a client runs an inference
    Then the response is an error envelope with code "WORKER_CRASHED"
    And the error details name the worker that crashed
    And that worker's process is gone and its port is free
    And the hive's temp dir is emptied within the cleanup timeout
    And the worker list reports that worker's exit code as the worker journaled it
    And the hive is still healthy
    When a client runs an inference
    Then the inference was not routed to the crashed worker

  @HIVE-CLEANUP-003 @HIVE-EXIT-008
  Scenario: On SIGTERM the hive stops every worker and exits cleanly within the cleanup timeout
    Given a worker for model "acme/tiny-chat" is running on GPU 0
    And another worker for model "acme/tiny-chat" is running on GPU 0
    When the hive receives SIGTERM
    Then the hive exits within the cleanup timeout
    And no worker process is left
    And the hive's temp dir is empty
    And the hive exited with code 0

  @HIVE-CLEANUP-004 @HIVE-EXIT-008
  Scenario: On SIGINT the hive stops every worker and exits cleanly within the cleanup timeout
    Given a worker for model "acme/tiny-chat" is running on GPU 0
    When the hive receives SIGINT
    Then the hive exits within the cleanup timeout
    And no worker process is left
    And the hive's temp dir is empty
    And the hive exited with code 0

  @HIVE-CLEANUP-005 @HIVE-CLEANUP-003
  Scenario: Workers that ignore SIGTERM do not hold up the hive's shutdown
    # Two of them: their stops must overlap for both to fit in the cleanup timeout.
    Given workers on GPU 0 ignore SIGTERM
    And a worker for model "acme/tiny-chat" is running on GPU 0
    And another worker for model "acme/tiny-chat" is running on GPU 0
    When the hive receives SIGTERM
    Then the hive exits within the cleanup timeout
    And no worker process is left
    And the hive exited with code 0
