import sys
from pathlib import Path

# The backend runs from the repository checkout (no install step on the GPU machine).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
