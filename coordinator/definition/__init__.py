"""The saga definition format (SPEC §2): JSON or YAML documents compiled to `core.spec.SagaSpec`.

* `parse_document` - bytes to a mapping; `compile_definition` - every check, then the spec.
* `render_request` - a call's `{{ JMESPath }}` templates rendered at call time.
* `validate_input` - a start request's input against the saga's `input_schema`.
* `render_key` - an execution's business key from its input (`key:`).
* `render_output` - a completed execution's output: the `output:` template, or the last answer.
* `secret_problems`, `spec_secret_problems` - templates reading secrets that are not set.
* `load_definition_file`, `validate_directory`, `validate_files` - definitions on disk (`saga validate`, `--sagas-dir`).
"""

from coordinator.definition.compiler import compile_definition
from coordinator.definition.documents import document_digest, parse_document
from coordinator.definition.inputs import validate_input
from coordinator.definition.keys import MAX_KEY_LENGTH, render_key
from coordinator.definition.loader import (
    FileResult,
    expand_variables,
    find_definition_files,
    format_report,
    load_definition_file,
    validate_directory,
    validate_files,
)
from coordinator.definition.models import SagaDocument, definition_json_schema
from coordinator.definition.output import OutputResult, render_output
from coordinator.definition.secrets import (
    SecretExists,
    call_secret_names,
    secret_not_set,
    secret_problems,
    secret_variable,
    spec_secret_problems,
)
from coordinator.definition.templates import (
    RenderedRequest,
    TemplateContext,
    TemplateError,
    build_context,
    render_request,
    render_value,
)
from coordinator.durations import parse_duration_ms

__all__ = [
    "MAX_KEY_LENGTH",
    "FileResult",
    "OutputResult",
    "RenderedRequest",
    "SagaDocument",
    "SecretExists",
    "TemplateContext",
    "TemplateError",
    "build_context",
    "call_secret_names",
    "compile_definition",
    "definition_json_schema",
    "document_digest",
    "expand_variables",
    "find_definition_files",
    "format_report",
    "load_definition_file",
    "parse_document",
    "parse_duration_ms",
    "render_key",
    "render_output",
    "render_request",
    "render_value",
    "secret_not_set",
    "secret_problems",
    "secret_variable",
    "spec_secret_problems",
    "validate_directory",
    "validate_files",
    "validate_input",
]
