/* floor.c — the physical limit for registering binfmt_misc entries from a whole process.
 *
 * usage: floor register LINES-FILE MOUNT   one write(2) per line to MOUNT/register, skipping
 *                                          entries that already exist (idempotent, like a re-run)
 *        floor remove   LINES-FILE MOUNT   write "-1" to each entry named in LINES-FILE
 * LINES-FILE holds one register line per line (":name:M:...:flags"). No allocation beyond a stack
 * buffer, no parsing beyond finding the name: nothing a real tool could do with less.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    int remove = strcmp(argv[1], "remove") == 0;
    FILE *f = fopen(argv[2], "r");
    if (!f) return 2;
    char reg[4096], line[2048], path[4096];
    snprintf(reg, sizeof reg, "%s/register", argv[3]);
    int failures = 0;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = 0;
        if (n < 3) continue;
        char delim = line[0];
        char *end = strchr(line + 1, delim);
        if (!end) return 2;
        snprintf(path, sizeof path, "%s/%.*s", argv[3], (int)(end - line - 1), line + 1);
        if (remove) {
            int fd = open(path, O_WRONLY);
            if (fd < 0 || write(fd, "-1", 2) != 2) failures++;
            if (fd >= 0) close(fd);
        } else if (access(path, F_OK) != 0) {
            int fd = open(reg, O_WRONLY);
            if (fd < 0 || write(fd, line, n) != (ssize_t)n) failures++;
            if (fd >= 0) close(fd);
        }
    }
    return failures ? 1 : 0;
}
