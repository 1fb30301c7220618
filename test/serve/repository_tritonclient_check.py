"""tritonclient's model repository calls against eclip serve (eclip-live, simulator): prints what it saw as JSON.

Usage: repository_tritonclient_check.py HOST:PORT [http|grpc]. Run by test/serve/live.test.ts."""
import json
import sys

from tritonclient.utils import InferenceServerException

protocol = sys.argv[2] if len(sys.argv) > 2 else "http"
if protocol == "grpc":
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url=sys.argv[1])

    def index():
        return client.get_model_repository_index(as_json=True).get("models", [])
else:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=sys.argv[1])

    def index():
        return client.get_model_repository_index()

out = {"index0": index()}
client.load_model("shufflenet")
out["shufflenet_ready"] = client.is_model_ready("shufflenet")
client.unload_model("vgg19")
out["vgg19_ready"] = client.is_model_ready("vgg19")
out["index1"] = index()
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
