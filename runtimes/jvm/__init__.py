"""Java frames for Flamecam: HotSpot perf maps, thread names, attach.

See README.md here for why the attach protocol is spoken directly.
"""

from .attach import AttachError, execute, jcmd, load_agent
from .flags import preserves_frame_pointer
from .java_names import java_frame, java_method_name, javaize
from .processes import JvmProcesses, find_jvm_pids
from .threads import parse_thread_dump

__all__ = [
    "AttachError",
    "JvmProcesses",
    "execute",
    "find_jvm_pids",
    "java_frame",
    "java_method_name",
    "javaize",
    "jcmd",
    "load_agent",
    "parse_thread_dump",
    "preserves_frame_pointer",
]
