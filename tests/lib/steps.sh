# Step bookkeeping for tests/run (bash): each step runs with its output in a log file, prints
# one PASS/FAIL line (and the log's tail on failure), and is counted for the summary.

WB_STEPS_PASSED=0
WB_STEPS_FAILED=0
WB_STEPS_LINES=()
WB_STEP_TAIL=${WB_STEP_TAIL:-60}

# wb_step_record NAME STATUS(0=pass) [LOG]: records a result without running anything.
wb_step_record() {
    local name=$1 status=$2 log=${3:-}
    if [ "$status" -eq 0 ]; then
        WB_STEPS_PASSED=$((WB_STEPS_PASSED + 1))
        WB_STEPS_LINES+=("PASS  $name")
        printf '  PASS  %s\n' "$name"
        return 0
    fi
    WB_STEPS_FAILED=$((WB_STEPS_FAILED + 1))
    WB_STEPS_LINES+=("FAIL  $name${log:+  (log: $log)}")
    printf '  FAIL  %s (status %s)\n' "$name" "$status"
    if [ -n "$log" ] && [ -s "$log" ]; then
        printf '  ----- last %s lines of %s -----\n' "$WB_STEP_TAIL" "$log"
        tail -n "$WB_STEP_TAIL" "$log" | sed 's/^/  | /'
        printf '  -----\n'
    fi
}

# wb_step_note TEXT: a summary line that is not counted (e.g. a build that succeeded).
wb_step_note() {
    WB_STEPS_LINES+=("ok    $1")
    printf '  ok    %s\n' "$1"
}

# wb_step NAME LOG CMD...: runs CMD with stdout and stderr to LOG and records the result.
wb_step() {
    local name=$1 log=$2 status=0 start=$SECONDS
    shift 2
    mkdir -p "$(dirname "$log")"
    "$@" >"$log" 2>&1 || status=$?
    wb_step_record "$name ($((SECONDS - start))s)" "$status" "$log"
    return "$status"
}

# Prints the summary; its last line is "N passed, N failed". Returns 1 if anything failed.
wb_steps_summary() {
    local line
    printf '\n===== summary =====\n'
    for line in "${WB_STEPS_LINES[@]}"; do
        printf '%s\n' "$line"
    done
    printf '%d passed, %d failed\n' "$WB_STEPS_PASSED" "$WB_STEPS_FAILED"
    [ "$WB_STEPS_FAILED" -eq 0 ]
}
