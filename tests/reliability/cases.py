"""SPEC §13's 26 reliability and security cases, each with the tests that prove it.

The tests live where their code lives (tests/ mirrors src/rlops/); this table names them, so a
case is proved by the one test that exercises it rather than by a copy. The groups' own modules
beside this one (test_crash_and_fault.py, test_load.py, test_bad_input.py, test_security.py) hold
the tests that have no better home. ``report.py`` marks every listed test with its case and
prints the table at the end of a pytest session; docs/reliability.md is generated from it
(``python -m tests.reliability.cases``) and a test keeps the two equal.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

GROUPS = {"crash": "Crash and fault", "load": "Load", "input": "Bad input", "security": "Security"}


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    promise: str
    tests: tuple[str, ...]


def _case(id: str, group: str, promise: str, *tests: str) -> Case:
    return Case(id, group, promise, tests)


R = "tests/reliability/"
CASES: tuple[Case, ...] = (
    # -- crash and fault ----------------------------------------------------------------------------
    _case("C01", "crash", "kill -9 during a checkpoint write (in a loop) leaves the previous checkpoint loadable "
          "and never picks a partial one",
          "tests/pipeline/test_kill_loop.py::test_sigkill_at_random_instants_always_resumes_from_a_complete_checkpoint",
          "tests/pipeline/test_kill_loop.py::test_a_run_killed_before_its_first_checkpoint_can_be_continued",
          "tests/pipeline/vector/test_vector_kill_loop.py::test_sigkill_loop_ends_with_the_uninterrupted_run"),
    _case("C02", "crash", "a resumed run matches an uninterrupted one with the same seed (timesteps, normalization "
          "statistics, learning-rate schedule, RNG)",
          "tests/pipeline/test_training.py::test_resume_continues_the_timestep_count_with_the_same_statistics",
          "tests/pipeline/test_exact_resume.py::test_a_ppo_run_killed_after_a_checkpoint_and_resumed_is_the_uninterrupted_run",
          "tests/pipeline/test_exact_resume.py::test_a_stopped_run_resumes_exactly_with_normalized_observations_and_rewards",
          "tests/pipeline/sb3/test_off_policy_stop_resume.py::test_a_stopped_off_policy_run_resumes_exactly_with_no_transition_lost_or_doubled"),
    _case("C03", "crash", "the daemon killed mid-run leaves no run stuck 'running' after restart",
          "tests/orchestrator/test_supervisor.py::test_a_sigkilled_daemon_loses_nothing_and_marks_what_died_meanwhile",
          "tests/store/test_runs.py::test_a_run_whose_process_died_without_an_end_is_marked_lost",
          R + "test_crash_and_fault.py::test_a_reindex_killed_mid_ingest_and_run_again_holds_every_point_once"),
    _case("C04", "crash", "stopping a run leaves no orphaned children",
          "tests/orchestrator/test_supervisor.py::test_stopping_a_run_kills_its_whole_process_group",
          "tests/orchestrator/test_setsid_descendants.py::test_stopping_a_run_ends_the_descendants_that_called_setsid",
          "tests/orchestrator/test_setsid_descendants.py::test_a_program_that_exits_leaving_a_daemon_behind_ends_it_with_the_run",
          "tests/orchestrator/test_setsid_descendants.py::test_descendants_that_ignore_sigterm_are_killed_and_the_run_still_gets_its_end",
          "tests/pipeline/test_stop_mid_update.py::test_a_stop_during_a_long_update_ends_stopped_with_a_checkpoint_at_the_rollout_boundary"),
    _case("C05", "crash", "a JSONL stream cut mid-line keeps every complete record",
          "tests/store/test_runs.py::test_garbage_is_counted_and_a_torn_last_line_waits_for_its_end",
          "tests/events/test_validate.py::test_a_run_directory_and_a_log_without_its_last_newline_are_accepted"),
    _case("C06", "crash", "an I/O error or a full disk is reported and the database passes PRAGMA integrity_check",
          "tests/store/test_runs.py::test_a_corrupt_database_is_a_clean_error_and_training_goes_on",
          "tests/pipeline/test_full_disk.py::test_a_full_disk_is_one_message_and_the_run_resumes_once_there_is_room",
          "tests/pipeline/test_full_disk.py::test_when_the_receipt_cannot_be_written_either_the_first_error_is_kept"),
    _case("C07", "crash", "a remote sink that is down or hanging never stops training",
          "tests/sinks/test_mlflow.py::test_a_tracking_server_that_is_down_never_stops_training",
          "tests/sinks/test_s3.py::test_a_store_that_refuses_or_is_down_never_stops_training",
          "tests/sinks/test_otel.py::test_a_collector_that_is_down_costs_the_run_nothing_but_is_counted",
          "tests/sinks/test_remote_sinks_never_hold_training.py::test_a_server_that_hangs_or_refuses_never_holds_training",
          "tests/sinks/test_remote_sinks_never_hold_training.py::test_a_hanging_mlflow_server_is_named_for_what_it_does"),
    _case("C08", "crash", "the janitor never deletes what a reader is using",
          "tests/services/test_eval_lease.py::test_the_janitor_keeps_a_run_whose_model_is_being_evaluated",
          "tests/services/test_eval_lease.py::test_a_long_evaluation_keeps_its_lease_past_the_first_term",
          "tests/services/test_eval_lease.py::test_a_row_that_goes_anyway_leaves_the_score_printed_and_kept",
          "tests/store/test_prunes.py::test_a_lease_in_force_stops_the_intent_and_writes_nothing"),
    _case("C09", "crash", "the janitor never deletes a live run's newest checkpoint or a production model",
          "tests/services/test_registry.py::test_production_and_live_runs_newest_checkpoint_are_never_pruned",
          "tests/orchestrator/test_retention.py::test_age_rule_and_the_checks_made_again_at_apply"),
    _case("C10", "crash", "a janitor killed mid-sweep leaves no dangling rows",
          "tests/orchestrator/test_retention_crash.py::test_the_next_gc_finishes_what_a_killed_one_began",
          "tests/orchestrator/test_retention_crash.py::"
          "test_a_dry_run_lists_an_unfinished_prune_and_gc_without_limits_finishes_it",
          "tests/store/test_prunes.py::test_the_intent_hides_the_models_at_once_and_the_completion_deletes_them"),
    # -- load ---------------------------------------------------------------------------------------
    _case("L01", "load", "many writers and API readers at once never surface 'database is locked'",
          "tests/store/test_runs.py::test_many_writers_and_a_reader_never_see_a_locked_database",
          R + "test_load.py::test_writers_and_api_readers_at_once_never_see_a_locked_database"),
    _case("L02", "load", "the WAL stays bounded under long readers",
          R + "test_load.py::test_the_wal_stays_bounded_under_overlapping_readers"),
    _case("L03", "load", "concurrent start/stop of one run leaves one process and a legal state",
          R + "test_load.py::test_concurrent_stops_and_ticks_of_one_run_leave_one_process_and_a_legal_state"),
    _case("L04", "load", "a database on a network filesystem is refused with a clear message",
          "tests/store/test_runs.py::test_a_database_on_a_network_filesystem_is_refused",
          "tests/store/test_filesystems.py::test_network_cluster_and_fuse_filesystems_are_refused",
          "tests/store/test_filesystems.py::test_every_octal_escape_in_a_mount_point_is_decoded",
          "tests/store/test_filesystems.py::test_the_real_mountinfo_is_read_and_names_the_filesystem_of_a_real_directory"),
    # -- bad input ----------------------------------------------------------------------------------
    _case("B01", "input", "garbage, NaN/Inf, huge lines and invalid UTF-8 in a run's stream are counted and kept, "
          "never fatal",
          "tests/orchestrator/test_supervisor.py::test_a_command_run_survives_a_hostile_producer_and_keeps_every_line",
          "tests/orchestrator/test_supervisor.py::test_odd_but_valid_records_and_huge_numbers_never_jam_supervision",
          "tests/store/test_runs.py::test_garbage_is_counted_and_a_torn_last_line_waits_for_its_end",
          "tests/orchestrator/test_program_end_record.py::test_a_program_that_goes_on_after_its_end_record_is_running_and_stoppable",
          R + "test_bad_input.py::test_a_log_of_every_kind_of_garbage_reindexes_its_complete_records_and_counts_the_rest",
          R + "test_bad_input.py::test_an_options_file_that_is_not_text_is_a_usage_error_naming_it"),
    _case("B02", "input", "a truncated or corrupt checkpoint gives a clean error or a fallback",
          "tests/cli/test_errors.py::test_corrupt_checkpoint_is_refused_and_the_run_falls_back",
          "tests/cli/test_errors.py::test_checkpoint_without_manifest_is_not_a_checkpoint",
          "tests/services/test_registry.py::test_a_damaged_checkpoint_is_reported_refused_and_listing_still_works",
          "tests/sinks/test_s3.py::test_a_corrupt_or_unfinished_checkpoint_on_the_store_is_skipped"),
    _case("B03", "input", "a truncated or corrupt database gives a clean error or a fallback",
          "tests/store/test_runs.py::test_a_corrupt_database_is_a_clean_error_and_training_goes_on",
          "tests/store/test_runs.py::test_a_newer_schema_is_refused",
          "tests/store/test_corrupt_database.py::test_each_command_says_the_database_is_unusable_and_how_to_rebuild",
          "tests/store/test_corrupt_database.py::test_an_api_route_answers_the_one_error_shape",
          "tests/store/test_corrupt_database.py::test_runs_check_names_the_damage_with_the_hint"),
    _case("B04", "input", "loading a checkpoint never executes code from it (no unrestricted pickle)",
          "tests/cli/test_errors.py::test_loading_a_checkpoint_never_executes_code_from_it",
          "tests/pipeline/test_safe_import.py::test_import_refuses_a_checkpoint_that_carries_a_pickled_object",
          "tests/pipeline/test_safe_import.py::test_loading_such_a_checkpoint_is_refused_without_torchs_advice"),
    # -- security -----------------------------------------------------------------------------------
    _case("S01", "security", "file paths from requests stay inside their root whatever the encoding (../, %2e%2e, "
          "%252e, backslashes, absolute paths, #, ;, NUL, file:, //proc/self/root, symlinks pointing out)",
          "tests/api/test_runs_api.py::test_files_are_served_from_inside_the_run_only_with_ranges",
          "tests/api/test_dashboard_api.py::test_the_page_and_its_files_are_served_and_hostile_static_paths_are_refused",
          R + "test_security.py::test_every_hostile_spelling_of_a_path_stays_inside_the_run"),
    _case("S02", "security", "state-changing requests check Host (DNS rebinding)",
          "tests/api/test_ui.py::test_the_ui_guards_host_and_origin_and_supervises"),
    _case("S03", "security", "state-changing requests check Origin (CSRF)",
          "tests/api/test_ui.py::test_the_ui_guards_host_and_origin_and_supervises"),
    _case("S04", "security", "binding beyond loopback needs a token",
          "tests/api/test_ui.py::test_a_token_is_checked_when_set",
          "tests/api/test_policy_server.py::test_a_token_is_required_when_set_and_beyond_loopback",
          "tests/api/test_dashboard_api.py::test_a_token_in_the_query_is_decoded_and_a_wildcard_bind_takes_any_host_name",
          "tests/api/test_empty_token.py::test_beyond_loopback_a_blank_token_gets_a_generated_one_that_every_request_needs",
          "tests/api/test_empty_token.py::test_the_guard_is_never_built_with_an_empty_secret_or_without_one_beyond_loopback",
          "tests/api/test_empty_token.py::test_the_policy_server_takes_a_blank_token_as_none"),
    _case("S05", "security", "runs start only through registered runners with schema-checked options, never a "
          "shell string",
          "tests/api/test_runs_api.py::test_runs_are_started_and_stopped_through_the_api_with_validated_options",
          "tests/api/test_dashboard_api.py::test_a_start_with_bad_options_is_refused_field_by_field_and_nothing_is_created"),
    _case("S06", "security", "URLs given by users are never fetched toward link-local or private addresses",
          "tests/api/test_request_addresses.py::test_the_reported_payloads_are_refused_and_nothing_is_started_or_contacted",
          "tests/api/test_request_addresses.py::test_every_marked_run_option_refuses_a_place_outside_the_server_over_http",
          "tests/api/test_request_addresses.py::test_the_servers_allowlists_let_through_exactly_what_they_name",
          "tests/api/test_request_addresses.py::test_every_option_that_names_an_address_a_listener_or_a_path_is_marked",
          "tests/sinks/test_mlflow_redirects.py::test_a_redirect_from_the_tracking_server_is_refused_before_connecting_where_it_points",
          "tests/sinks/test_mlflow_redirects.py::test_a_run_whose_tracking_server_redirects_finishes_with_a_complete_log",
          "tests/sinks/test_otlp_redirects.py::test_an_otlp_collector_that_redirects_sends_nothing_where_it_points",
          "tests/sinks/test_s3_redirects.py::test_an_s3_endpoint_that_redirects_is_refused_and_sends_nothing_where_it_points"),
    _case("S07", "security", "option values are data, never templates or shell",
          "tests/api/test_dashboard_api.py::test_a_request_value_never_becomes_a_flag_of_its_own",
          R + "test_security.py::test_option_values_that_look_like_shell_or_templates_stay_data"),
    _case("S08", "security", "artifacts are served with their real content type and nosniff",
          R + "test_security.py::test_artifacts_are_served_with_their_real_type_and_nosniff"),
)


def by_test() -> dict[str, list[str]]:
    """Test node id (without parameters) -> the cases it proves."""
    cases: dict[str, list[str]] = {}
    for case in CASES:
        for test in case.tests:
            cases.setdefault(test, []).append(case.id)
    return cases


def markdown() -> str:
    lines = []
    for group, title in GROUPS.items():
        lines += [f"### {title}", "", "| case | what it promises | tests |", "|---|---|---|"]
        for case in (c for c in CASES if c.group == group):
            tests = "<br>".join(f"`{t.removeprefix('tests/')}`" for t in case.tests) or "(none yet)"
            lines.append(f"| {case.id} | {case.promise} | {tests} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown())
