from services.ingest.service import SPEC
from shared.service import main

main(SPEC)
