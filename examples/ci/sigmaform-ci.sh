#!/usr/bin/env bash
# sigmaform in CI: the steps the GitHub and GitLab recipes run, kept in one script so that
# the pipeline and its test (tests/test_ci_recipe.py) run the same commands.
#
#   sigmaform-ci.sh validate              offline checks of every environment
#   sigmaform-ci.sh plan ENV...           one markdown plan per ENV, appended to one
#                                         pull-request comment body
#   sigmaform-ci.sh compare A B           how B's rendered config differs from A's (offline,
#                                         no key, no secret), appended to the same body
#   sigmaform-ci.sh apply ENV             plan, save it, apply exactly that plan
#   sigmaform-ci.sh test ENV              run ENV's test cases; JUnit XML to SIGMAFORM_JUNIT_FILE
#   sigmaform-ci.sh promote ENV           promote to ENV (gate: only what promoteFrom applied,
#                                         and tested where it has test cases)
#   sigmaform-ci.sh drift ENV...          fail (exit 2) when anything changed outside sigmaform
#
# Settings (environment variables):
#   SIGMAFORM_PROJECT_DIR   directory holding sigmaform.yaml (default: .)
#   SIGMAFORM_COMMENT_FILE  where `plan` writes the comment body (default: sigmaform-plan.md)
#   SIGMAFORM_PLAN_DIR      where `apply` keeps its saved plan (default: a temp dir)
#   SIGMAFORM_JUNIT_FILE    where `test` writes JUnit XML (default: sigmaform-tests.xml)
#   GITHUB_STEP_SUMMARY     when set (GitHub Actions), markdown reports are appended to it
#   GITHUB_OUTPUT           when set, `plan` writes changes=true|false and `drift` drift=true|false
#
# Exit codes: 0 success; 1 error; 2 `drift` found drift; 3 refused by a safety rail
# (promotion gate, stale plan, lock held, protected resource) or the test gate failed
# (`test`). `plan` exits 0 when changes
# are pending: on a pull request, pending changes are the point, not a failure.
set -uo pipefail

PROJECT_DIR="${SIGMAFORM_PROJECT_DIR:-.}"
COMMENT_FILE="${SIGMAFORM_COMMENT_FILE:-sigmaform-plan.md}"
# The marker lets the workflow find and update its own comment instead of adding one per push.
COMMENT_MARKER="<!-- sigmaform-plan -->"
# GitHub refuses comments over 65,536 characters; leave room for the truncation note.
COMMENT_LIMIT=60000

# CI systems pass a secret the repository does not define as an empty variable; unset, it
# makes sigmaform say "`${secret.NAME}`: environment variable NAME is not set" instead of
# sending an empty webhook secret.
while IFS= read -r name; do
  if [[ -z "${!name}" ]]; then
    unset "$name"
  fi
done < <(compgen -e)

sf() {
  sigmaform --no-color -C "$PROJECT_DIR" "$@"
}

summary() {
  # Append stdin to the job summary when there is one; always show it in the log.
  if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
    tee -a "$GITHUB_STEP_SUMMARY"
  else
    cat
  fi
}

output() {
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
    echo "$1" >>"$GITHUB_OUTPUT"
  fi
}

fenced() {
  # Print file $1 as a markdown code block whose fence is longer than any run of backticks
  # inside it, so the text cannot close the block and leak into the comment as markdown.
  local longest fence='```'
  longest="$(grep -o '`*' "$1" | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')"
  while [[ "${#fence}" -le "$longest" ]]; do
    fence+='`'
  done
  echo "$fence${2:-}"
  cat "$1"
  echo "$fence"
}

comment_add() {
  # Append file $1 to the comment body (one body, marked, however many steps add to it).
  if ! { [[ -s "$COMMENT_FILE" ]] && grep -qF "$COMMENT_MARKER" "$COMMENT_FILE"; }; then
    printf '%s\n## sigmaform\n\n' "$COMMENT_MARKER" >"$COMMENT_FILE"
  fi
  cat "$1" >>"$COMMENT_FILE"
  if [[ "$(wc -c <"$COMMENT_FILE")" -gt "$COMMENT_LIMIT" ]]; then
    head -c "$COMMENT_LIMIT" "$COMMENT_FILE" >"$1"
    printf '\n\n_(truncated: the full plan is in the job log)_\n' >>"$1"
    mv "$1" "$COMMENT_FILE"
  fi
}

need_env() {
  if [[ $# -eq 0 ]]; then
    echo "sigmaform-ci.sh: name at least one environment" >&2
    exit 1
  fi
}

cmd_validate() {
  sf validate
}

cmd_plan() {
  need_env "$@"
  local env code failed=0 changes=false section err
  section="$(mktemp)"
  err="$(mktemp)"
  for env in "$@"; do
    sf -e "$env" plan --format markdown --detailed-exitcode >>"$section" 2>"$err"
    code=$?
    cat "$err" >&2
    case "$code" in
      0) ;;
      2) changes=true ;;
      *)
        failed=1
        # Error messages never hold secrets (sigmaform masks them), so the reviewer sees why.
        {
          echo "### sigmaform plan: \`$env\` failed (exit $code)"
          echo
          fenced "$err"
        } >>"$section"
        ;;
    esac
    echo >>"$section"
  done
  summary <"$section"
  # Several `plan` steps (one per environment, each with its own secrets) build one comment.
  comment_add "$section"
  rm -f "$section" "$err"
  output "changes=$changes"
  return "$failed"
}

cmd_compare() {
  if [[ $# -ne 2 ]]; then
    echo "sigmaform-ci.sh: compare needs two environments (compare A B)" >&2
    exit 1
  fi
  local section out code
  section="$(mktemp)"
  out="$(mktemp)"
  sf diff-env "$1" "$2" >"$out" 2>&1
  code=$?
  {
    if [[ "$code" -eq 0 ]]; then
      echo "### sigmaform diff-env: \`$1\` -> \`$2\`"
    else
      echo "### sigmaform diff-env: \`$1\` -> \`$2\` failed (exit $code)"
    fi
    echo
    fenced "$out" text
    echo
  } >"$section"
  summary <"$section"
  comment_add "$section"
  rm -f "$section" "$out"
  return "$code"
}

cmd_apply() {
  need_env "$@"
  local env="$1" dir plan code
  dir="${SIGMAFORM_PLAN_DIR:-$(mktemp -d)}"
  plan="$dir/$env.plan.json"
  # Save the plan and apply exactly it: what the log shows is what runs.
  sf -e "$env" plan --out "$plan" --format markdown | summary
  code=${PIPESTATUS[0]}
  [[ "$code" -eq 0 ]] || return "$code"
  sf -e "$env" apply "$plan"
}

cmd_test() {
  need_env "$@"
  # The table goes to the job summary; each case's progress to the log as it finishes.
  sf -e "$1" test --format markdown --junit "${SIGMAFORM_JUNIT_FILE:-sigmaform-tests.xml}" | summary
  return "${PIPESTATUS[0]}"
}

cmd_promote() {
  need_env "$@"
  sf promote --to "$1" --apply --auto-approve --format markdown | summary
  return "${PIPESTATUS[0]}"
}

cmd_drift() {
  need_env "$@"
  local env code worst=0 drift=false
  for env in "$@"; do
    sf -e "$env" drift --format markdown | summary
    code=${PIPESTATUS[0]}
    case "$code" in
      0) ;;
      2) drift=true; [[ "$worst" -eq 0 ]] && worst=2 ;;
      *) worst=1 ;;
    esac
  done
  output "drift=$drift"
  return "$worst"
}

main() {
  local command="${1:-}"
  shift || true
  case "$command" in
    validate) cmd_validate "$@" ;;
    plan) cmd_plan "$@" ;;
    compare) cmd_compare "$@" ;;
    apply) cmd_apply "$@" ;;
    test) cmd_test "$@" ;;
    promote) cmd_promote "$@" ;;
    drift) cmd_drift "$@" ;;
    *)
      echo "usage: sigmaform-ci.sh validate | plan ENV... | compare A B | apply ENV | test ENV | promote ENV | drift ENV..." >&2
      return 1
      ;;
  esac
}

main "$@"
