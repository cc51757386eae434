"""Prints what a script can see of how it was started."""
import os
import sys

print("name", __name__)
print("argv", sys.argv)
print("path0", sys.path[0])
print("file", __file__)
print("package", __package__)
print("spec", None if __spec__ is None else __spec__.name)
print("loader", type(__loader__).__name__)
print("cached", __cached__)
print("doc", __doc__)
print("globals", sorted(k for k in globals() if k not in ("os", "sys")))
print("main is us", sys.modules["__main__"].__dict__ is globals())
print("trace hook", sys.gettrace() is not None)
print("cwd", os.getcwd() == os.path.abspath("."))
sys.stderr.write("to stderr\n")
