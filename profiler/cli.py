"""Placeholder CLI; replaced by the real one."""
import sys

def main() -> int:
    return 0

if __name__ == "__main__":
    sys.exit(main())
