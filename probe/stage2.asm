; nvmx probe, BIOS stage 2: A20, unreal mode, reads the core and the states blob (INT 13h) to their places
; above 1 MiB, then enters long mode and jumps to the core (core.asm).
bits 16
%include "layout.inc"
org 0x7e00

P_CORE_LBA  equ 0x7c00 + 9
P_CORE_CNT  equ 0x7c00 + 13
P_BLOB_LBA  equ 0x7c00 + 15
P_BLOB_CNT  equ 0x7c00 + 19
DRIVE       equ 0x0600
BOUNCE_SEG  equ 0x1000              ; 0x10000: 64 sectors at a time
CHUNK       equ 64
PT_BASE     equ 0x70000             ; temporary page tables (the core builds its own)

stage2:
    cli
    ; A20 (fast gate; the BIOS has usually enabled it already)
    in al, 0x92
    or al, 2
    and al, 0xfe
    out 0x92, al
    ; unreal mode: FS with a 4 GiB limit
    lgdt [gdt_desc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp 0x18:.pm
.pm:
    mov bx, 0x10
    mov fs, bx
    and al, 0xfe
    mov cr0, eax
    jmp 0:.rm
.rm:
    xor ax, ax
    mov fs, ax
    ; fs keeps its cached 4 GiB limit with base 0
    sti
    ; the core
    mov eax, [P_CORE_LBA]
    movzx ecx, word [P_CORE_CNT]
    mov edi, CORE_BASE
    call read_high
    ; the states blob
    mov eax, [P_BLOB_LBA]
    mov ecx, [P_BLOB_CNT]
    mov edi, BLOB_BASE
    call read_high
    ; tell the core where the blob is
    mov dword [fs:dword CORE_BASE + HDR_BOOT_KIND], 1
    mov dword [fs:dword CORE_BASE + HDR_BLOB_ADDR], BLOB_BASE
    mov dword [fs:dword CORE_BASE + HDR_BLOB_ADDR + 4], 0
    mov eax, [P_BLOB_CNT]
    shl eax, 9
    mov dword [fs:dword CORE_BASE + HDR_BLOB_SIZE], eax
    mov dword [fs:dword CORE_BASE + HDR_BLOB_SIZE + 4], 0
    ; page tables: 4 GiB identity-mapped, 2 MiB pages
    cli
    mov edi, PT_BASE
    mov ecx, 0x6000 / 4
    xor eax, eax
.z:
    mov [fs:edi], eax
    add edi, 4
    dec ecx
    jnz .z
    mov dword [fs:dword PT_BASE], PT_BASE + 0x1003
    mov edi, PT_BASE + 0x1000
    mov eax, PT_BASE + 0x2003
    mov ecx, 4
.pdpt:
    mov [fs:edi], eax
    add eax, 0x1000
    add edi, 8
    dec ecx
    jnz .pdpt
    mov edi, PT_BASE + 0x2000
    mov eax, 0x83
    xor edx, edx
    mov ecx, 2048
.pd:
    mov [fs:edi], eax
    mov [fs:edi + 4], edx
    add eax, 0x200000
    adc edx, 0
    add edi, 8
    dec ecx
    jnz .pd
    ; long mode
    mov eax, 0x20               ; PAE
    mov cr4, eax
    mov eax, PT_BASE
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x100               ; LME
    wrmsr
    mov eax, cr0
    or eax, 0x80000001
    mov cr0, eax
    jmp dword 0x08:lm64

; eax = LBA, ecx = sectors, edi = destination above 1 MiB
read_high:
    test ecx, ecx
    jz .ret
    mov ebx, CHUNK
    cmp ecx, ebx
    jae .n
    mov ebx, ecx
.n:
    mov [dap_count], bx
    mov [dap_lba], eax
    mov word [dap_seg], BOUNCE_SEG
    push eax
    push ecx
    push edi
    push ebx
    mov si, dap
    mov ah, 0x42
    mov dl, [DRIVE]
    int 0x13
    pop ebx
    pop edi
    jc read_err
    ; copy ebx sectors from 0x10000 to edi
    mov esi, 0x10000
    mov ecx, ebx
    shl ecx, 7                  ; dwords
.c:
    mov eax, [fs:esi]
    mov [fs:edi], eax
    add esi, 4
    add edi, 4
    dec ecx
    jnz .c
    pop ecx
    pop eax
    add eax, ebx
    sub ecx, ebx
    jmp read_high
.ret:
    ret

read_err:
    mov si, s_read
.l:
    lodsb
    test al, al
    jz .h
    out 0xe9, al
    mov ah, 0x0e
    mov bx, 7
    int 0x10
    jmp .l
.h:
    cli
    hlt
    jmp .h

bits 64
lm64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, 0x7000
    mov rax, CORE_BASE
    jmp rax

align 8
gdt:
    dq 0
    dq 0x00af9a000000ffff           ; 0x08: 64-bit code
    dq 0x00cf92000000ffff           ; 0x10: flat data
    dq 0x00009a000000ffff           ; 0x18: 16-bit code (for the unreal-mode switch)
gdt_desc:
    dw $ - gdt - 1
    dd gdt

align 4
dap:
    db 16, 0
dap_count: dw 0
    dw 0
dap_seg: dw 0
dap_lba: dd 0, 0

s_read: db "NVMX-PROBE: disk read failed (core or states)", 13, 10, 0
