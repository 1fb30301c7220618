"""tritonclient's model repository calls against eclip serve (eclip-live, simulator): prints what it saw as JSON.

Usage: repository_tritonclient_check.py HOST:PORT. Run by test/serve/live.test.ts."""
import json
import sys

import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

client = httpclient.InferenceServerClient(url=sys.argv[1])
out = {"index0": client.get_model_repository_index()}
client.load_model("shufflenet")
out["shufflenet_ready"] = client.is_model_ready("shufflenet")
client.unload_model("vgg19")
out["vgg19_ready"] = client.is_model_ready("vgg19")
out["index1"] = client.get_model_repository_index()
errors = {}
for what, call in [("unknown", lambda: client.load_model("bert")),
                   ("twice", lambda: client.unload_model("vgg19"))]:
    try:
        call()
        errors[what] = None
    except InferenceServerException as e:
        errors[what] = e.message()
out["errors"] = errors
print(json.dumps(out))
