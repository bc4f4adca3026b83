NAME = "claude-code"
KIND = "jsonl"
def sniff(head): return False
def parse(stream, ctx): return iter(())
