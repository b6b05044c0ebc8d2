"""backprose: optimize LLM workflows by carrying textual feedback backward through a traced graph."""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
